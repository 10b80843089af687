import cv2
import numpy as np
import pytest

from ppkpt.codecs import build_codec
from ppkpt.codecs.heatmap import HeatmapCodec, flip_back, get_max_preds

INPUT = [192, 256]
HEATMAP = [48, 64]


def subpixel_joints(k=17, seed=0):
    """Joints well inside a 192x256 input, at random sub-pixel positions."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(24, 168, k), rng.uniform(24, 232, k)], axis=1)


def reference_window_gaussian(center, mu, sigma, width, height):
    """Brute-force Gaussian at ``center`` kept in the (6 sigma + 1) square around ``mu``."""
    out = np.zeros((height, width))
    radius = 3 * sigma
    for y in range(height):
        for x in range(width):
            if abs(x - mu[0]) <= radius and abs(y - mu[1]) <= radius:
                d2 = (x - center[0]) ** 2 + (y - center[1]) ** 2
                out[y, x] = np.exp(-d2 / (2 * sigma ** 2))
    return out


def reference_dark(heatmaps, coords, kernel=3):
    """Per-joint loop version of DARK refinement used to check the vectorised one."""
    out = coords.copy()
    n, k, height, width = heatmaps.shape
    for i in range(n):
        for j in range(k):
            pad = kernel // 2
            padded = np.zeros((height + 2 * pad, width + 2 * pad))
            padded[pad:-pad, pad:-pad] = heatmaps[i, j]
            blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[pad:-pad, pad:-pad]
            blurred *= heatmaps[i, j].max() / blurred.max()
            hm = np.log(np.maximum(blurred, 1e-10))
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            if not (1 < px < width - 2 and 1 < py < height - 2):
                continue
            grad = np.array([0.5 * (hm[py, px + 1] - hm[py, px - 1]),
                             0.5 * (hm[py + 1, px] - hm[py - 1, px])])
            dxx = 0.25 * (hm[py, px + 2] - 2 * hm[py, px] + hm[py, px - 2])
            dyy = 0.25 * (hm[py + 2, px] - 2 * hm[py, px] + hm[py - 2, px])
            dxy = 0.25 * (hm[py + 1, px + 1] - hm[py - 1, px + 1] - hm[py + 1, px - 1]
                          + hm[py - 1, px - 1])
            hessian = np.array([[dxx, dxy], [dxy, dyy]])
            if np.linalg.det(hessian) != 0:
                out[i, j] -= np.linalg.solve(hessian, grad)
    return out


def encode(codec, joints, visible):
    """(target, target_weight) of one instance."""
    out = codec.encode(joints, visible)
    return out['target'], out['target_weight']


def test_encode_shapes_and_dtypes():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0)
    target, weight = encode(codec, subpixel_joints(), np.ones(17))
    assert target.shape == (17, 64, 48) and target.dtype == np.float32
    assert weight.shape == (17, 1) and weight.dtype == np.float32
    np.testing.assert_array_equal(weight, 1.0)


def test_gaussian_target_matches_windowed_reference_at_rounded_position():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='gaussian')
    joint = np.array([[50.3, 101.9]])
    target, _ = encode(codec, joint, np.ones(1))
    mu = np.floor(joint[0] / 4 + 0.5)
    np.testing.assert_allclose(target[0], reference_window_gaussian(mu, mu, 2.0, 48, 64),
                               atol=1e-6)
    assert target[0, int(mu[1]), int(mu[0])] == 1.0
    assert np.count_nonzero(target[0]) == 13 * 13


def test_dark_target_is_subpixel_gaussian_over_whole_map():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='dark')
    joint = np.array([[50.3, 101.9]])
    target, _ = encode(codec, joint, np.ones(1))
    mu = joint[0] / 4
    ys, xs = np.mgrid[0:64, 0:48]
    expected = np.exp(-((xs - mu[0]) ** 2 + (ys - mu[1]) ** 2) / 8.0)
    np.testing.assert_allclose(target[0], expected, atol=1e-6)


def test_udp_target_uses_pixel_centre_stride_and_subpixel_centre():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='udp')
    np.testing.assert_allclose(codec.stride, [191 / 47, 255 / 63])
    joint = np.array([[50.3, 101.9]])
    target, _ = encode(codec, joint, np.ones(1))
    exact = joint[0] / codec.stride
    mu = np.floor(exact + 0.5)
    np.testing.assert_allclose(target[0], reference_window_gaussian(exact, mu, 2.0, 48, 64),
                               atol=1e-6)


@pytest.mark.parametrize('target_type', ['gaussian', 'dark', 'udp'])
def test_invisible_and_out_of_bounds_joints_get_zero_weight(target_type):
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type=target_type)
    joints = np.array([[96.0, 128.0], [96.0, 128.0], [-40.0, 100.0], [100.0, 300.0],
                       [-10.0, 128.0]])
    vis = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
    target, weight = encode(codec, joints, vis)
    np.testing.assert_array_equal(weight[:, 0], [1, 0, 0, 0, 1])
    assert target[0].max() > 0.9
    assert not target[1:4].any()
    assert target[4].max() > 0  # the peak is off the map but its window still overlaps


def test_encode_takes_one_instance_with_or_without_the_n_axis():
    codec = HeatmapCodec(INPUT, HEATMAP)
    joints = np.array([[96.0, 128.0, 0.0], [10.0, 10.0, 0.0]])
    target, weight = encode(codec, joints, np.array([1.0, 0.0]))
    np.testing.assert_array_equal(weight[:, 0], [1, 0])
    batched, _ = encode(codec, joints[None], np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(batched, target)
    with pytest.raises(ValueError, match='keypoints_visible'):
        encode(codec, np.zeros((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match='one instance'):
        encode(codec, np.zeros((2, 3, 2)), np.ones((2, 3)))


def test_dark_decode_of_dark_target_recovers_subpixel_position():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='dark', use_dark=True)
    joints = subpixel_joints()
    target, _ = encode(codec, joints, np.ones(17))
    coords, maxvals = codec.decode_heatmap_coords(target[None])
    np.testing.assert_allclose(coords[0], joints / 4, atol=0.05)
    assert coords.shape == (1, 17, 2) and maxvals.shape == (1, 17)
    assert np.all(maxvals > 0.8)
    keypoints, scores = codec.decode(target[None])
    np.testing.assert_allclose(keypoints[0], joints, atol=0.2)
    assert keypoints.dtype == np.float32 and scores.shape == (1, 17)


def test_quarter_offset_decode_is_within_a_quarter_pixel():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='dark', use_dark=False)
    joints = subpixel_joints(seed=1)
    target, _ = encode(codec, joints, np.ones(17))
    coords, _ = codec.decode_heatmap_coords(target[None])
    err = np.abs(coords[0] - joints / 4)
    assert err.max() <= 0.25 + 1e-6
    argmax, _ = get_max_preds(target[None])
    moved = np.abs(coords[0] - argmax[0])
    assert set(np.round(moved.ravel(), 6)) <= {0.0, 0.25}


def test_gaussian_target_decodes_to_the_rounded_position():
    joints = subpixel_joints(seed=2)
    for use_dark in (False, True):
        codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='gaussian',
                             use_dark=use_dark)
        target, _ = encode(codec, joints, np.ones(17))
        coords, _ = codec.decode_heatmap_coords(target[None])
        np.testing.assert_allclose(coords[0], np.floor(joints / 4 + 0.5), atol=1e-4)


def test_udp_round_trip_in_input_pixels():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, target_type='udp', use_dark=True)
    joints = subpixel_joints(seed=3)
    target, _ = encode(codec, joints, np.ones(17))
    coords, _ = codec.decode_heatmap_coords(target[None])
    np.testing.assert_allclose(coords[0] * codec.stride, joints, atol=0.2)
    assert codec.use_udp


def test_vectorised_dark_matches_per_joint_reference():
    rng = np.random.default_rng(4)
    codec = HeatmapCodec(INPUT, HEATMAP, target_type='dark')
    maps = np.stack([encode(codec, subpixel_joints(5, seed=s), np.ones(5))[0]
                     for s in range(3)])
    maps = maps + rng.normal(0, 0.02, maps.shape).astype(np.float32)
    maps[0, 0, :, :] = 0.0
    maps[0, 0, 1, 40] = 1.0  # a peak next to the border: no refinement
    coords, _ = get_max_preds(maps)
    expected = reference_dark(maps.astype(np.float64), coords)
    decoded, _ = codec.decode_heatmap_coords(maps)
    np.testing.assert_allclose(decoded, expected, atol=1e-4)
    np.testing.assert_allclose(decoded[0, 0], [40, 1])


def test_decode_zeroes_coords_of_non_positive_maps():
    maps = np.zeros((2, 3, 16, 12), dtype=np.float32)
    maps[0, 1, 5, 7] = 0.8
    maps[1, 2] = -1.0
    maps[1, 2, 3, 3] = -0.5
    for use_dark in (False, True):
        coords, maxvals = HeatmapCodec([48, 64], [12, 16],
                                      use_dark=use_dark).decode_heatmap_coords(maps)
        np.testing.assert_allclose(coords[0, 1], [7, 5])
        np.testing.assert_array_equal(coords[1, 2], [0, 0])
        np.testing.assert_allclose(maxvals, [[0, 0.8, 0], [0, 0, -0.5]])
        assert np.isfinite(coords).all()


def test_decode_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r'\(N, K, H, W\)'):
        HeatmapCodec(INPUT, HEATMAP).decode(np.zeros((17, 64, 48)))


def test_decode_handles_more_maps_than_one_blur_call_takes():
    codec = HeatmapCodec([32, 32], [8, 8])
    maps = np.random.default_rng(5).random((20, 17, 8, 8)).astype(np.float32)
    coords, maxvals = codec.decode(maps)
    assert coords.shape == (20, 17, 2)
    np.testing.assert_allclose(maxvals, maps.reshape(20, 17, -1).max(axis=2))


@pytest.mark.parametrize('kwargs, match', [
    (dict(target_type='msra'), 'target_type'),
    (dict(sigma=0.0), 'sigma'),
    (dict(blur_kernel_size=4), 'blur_kernel_size'),
    (dict(input_size=[192]), 'input_size'),
    (dict(heatmap_size=[0, 64]), 'heatmap_size'),
])
def test_codec_rejects_bad_arguments(kwargs, match):
    args = dict(input_size=INPUT, heatmap_size=HEATMAP)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        HeatmapCodec(**args)


def test_flip_back_reverses_width_and_swaps_pairs():
    maps = np.random.default_rng(6).random((2, 5, 4, 6)).astype(np.float32)
    out = flip_back(maps, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(out[:, 0], maps[:, 0, :, ::-1])
    np.testing.assert_array_equal(out[:, 1], maps[:, 2, :, ::-1])
    np.testing.assert_array_equal(out[:, 4], maps[:, 3, :, ::-1])
    np.testing.assert_array_equal(flip_back(out, [[1, 2], [3, 4]]), maps)


def test_flip_back_with_no_pairs_only_mirrors():
    maps = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(flip_back(maps, []), maps[..., ::-1])


def test_flip_back_rejects_out_of_range_pair():
    with pytest.raises(ValueError, match='out of range for 5 joints'):
        flip_back(np.zeros((1, 5, 4, 4)), [[1, 5]])


@pytest.mark.parametrize('use_udp', [False, True])
def test_decode_to_image_inverts_the_crop_of_its_target_type(use_udp):
    from ppkpt.geometry import get_affine_transform, get_warp_matrix

    center, scale_px, hm_size = np.array([150.0, 90.0]), np.array([96.0, 128.0]), [24, 32]
    if use_udp:
        forward = get_warp_matrix(0.0, center * 2.0, np.array(hm_size, float) - 1.0, scale_px)
    else:
        forward = get_affine_transform(center, scale_px, 0.0, hm_size)
    joints = np.array([[130.0, 60.0], [170.5, 120.25], [150.0, 90.0]])
    in_crop = joints @ forward[:, :2].T + forward[:, 2]
    ys, xs = np.mgrid[0:hm_size[1], 0:hm_size[0]]
    heatmaps = np.exp(-((xs[None] - in_crop[:, 0, None, None]) ** 2
                        + (ys[None] - in_crop[:, 1, None, None]) ** 2) / (2 * 2.0 ** 2))[None]
    kwargs = dict(input_size=[96, 128], heatmap_size=hm_size, use_dark=True)
    codec = HeatmapCodec(target_type='udp' if use_udp else 'gaussian', **kwargs)
    keypoints = codec.decode_to_image(heatmaps, center[None], scale_px[None])
    assert keypoints.shape == (1, 3, 3)
    np.testing.assert_allclose(keypoints[0, :, :2], joints, atol=0.3)
    other = HeatmapCodec(target_type='gaussian' if use_udp else 'udp', **kwargs)
    assert np.abs(other.decode_to_image(heatmaps, center[None], scale_px[None])[0, :, :2]
                  - joints).max() > 1.0
    with pytest.raises(ValueError, match=r'\[1, 2\]'):
        codec.decode_to_image(heatmaps, center[None], scale_px)


def test_to_config_round_trips_through_build_codec():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=1.5, target_type='udp', use_dark=False,
                         flip_alignment='exact')
    spec = codec.to_config()
    assert spec == {'type': 'HeatmapCodec', 'input_size': [192, 256], 'heatmap_size': [48, 64],
                    'sigma': 1.5, 'target_type': 'udp', 'use_dark': False,
                    'blur_kernel_size': 3, 'flip_alignment': 'exact'}
    assert build_codec(spec) == codec and build_codec(spec).use_udp
    with pytest.raises(ValueError, match="unknown codec type 'Heatmap'"):
        build_codec({**spec, 'type': 'Heatmap'})
    with pytest.raises(ValueError, match='needs a `type`'):
        build_codec({'sigma': 2})


def test_flip_shift_is_decided_by_the_codec():
    assert HeatmapCodec(INPUT, HEATMAP).flip_shift == 1.0
    assert HeatmapCodec(INPUT, HEATMAP, flip_alignment='exact').flip_shift == pytest.approx(0.75)
    assert HeatmapCodec(INPUT, HEATMAP, flip_alignment='none').flip_shift == 0.0
    assert HeatmapCodec(INPUT, HEATMAP, target_type='udp').flip_shift == 0.0
    with pytest.raises(ValueError, match='flip_alignment must be one of'):
        HeatmapCodec(INPUT, HEATMAP, flip_alignment='half')
