import numpy as np
import pytest

from ppkpt.geometry import (affine_transform_points, box_to_center_scale, center_scale_to_box,
                            crop_matrix, flip_permutation, get_affine_transform, get_warp_matrix,
                            transform_preds)

CENTER = np.array([320.0, 200.0])
SCALE_PX = np.array([150.0, 200.0])  # padded to 192 / 256 = 0.75
OUT = np.array([192, 256])


def random_points(n=20, seed=0):
    return np.random.default_rng(seed).uniform(0, 600, size=(n, 2))


def test_affine_maps_box_center_to_output_center():
    mat = get_affine_transform(CENTER, SCALE_PX, 0.0, OUT)
    np.testing.assert_allclose(affine_transform_points(CENTER, mat), OUT / 2, atol=1e-4)


def test_affine_maps_box_corners_to_output_corners():
    mat = get_affine_transform(CENTER, SCALE_PX, 0.0, OUT)
    corners = np.array([CENTER - SCALE_PX / 2, CENTER + SCALE_PX / 2])
    np.testing.assert_allclose(affine_transform_points(corners, mat), [[0, 0], OUT], atol=1e-3)


@pytest.mark.parametrize('rot', [0.0, 30.0, -75.0])
def test_affine_forward_then_inverse_is_identity(rot):
    fwd = get_affine_transform(CENTER, SCALE_PX, rot, OUT)
    inv = get_affine_transform(CENTER, SCALE_PX, rot, OUT, inv=True)
    pts = random_points()
    back = affine_transform_points(affine_transform_points(pts, fwd), inv)
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_affine_rotation_turns_content_counter_clockwise():
    mat = get_affine_transform([100, 100], [50, 50], 90.0, [50, 50])
    right_of_center = affine_transform_points(np.array([110.0, 100.0]), mat)
    np.testing.assert_allclose(right_of_center, [25.0, 15.0], atol=1e-4)


def test_affine_scale_is_set_by_box_width_only():
    a = get_affine_transform(CENTER, [150.0, 200.0], 0.0, OUT)
    b = get_affine_transform(CENTER, [150.0, 999.0], 0.0, OUT)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a[0, 0], 192 / 150, rtol=1e-5)


def test_affine_shift_moves_the_source_center():
    mat = get_affine_transform(CENTER, SCALE_PX, 0.0, OUT, shift=(0.1, -0.2))
    shifted = CENTER + SCALE_PX * np.array([0.1, -0.2])
    np.testing.assert_allclose(affine_transform_points(shifted, mat), OUT / 2, atol=1e-4)


def test_affine_rejects_bad_center_shape():
    with pytest.raises(ValueError, match='center'):
        get_affine_transform([1.0, 2.0, 3.0], SCALE_PX, 0.0, OUT)


def test_warp_matrix_udp_maps_box_edges_to_pixel_centres():
    mat = get_warp_matrix(0.0, CENTER * 2, OUT - 1.0, SCALE_PX)
    pts = np.array([CENTER - SCALE_PX / 2, CENTER, CENTER + SCALE_PX / 2])
    expected = [[0.0, 0.0], (OUT - 1) / 2, OUT - 1]
    np.testing.assert_allclose(affine_transform_points(pts, mat), expected, atol=1e-9)


def test_warp_matrix_scales_each_axis_separately():
    mat = get_warp_matrix(0.0, CENTER * 2, [99.0, 49.0], [200.0, 200.0])
    np.testing.assert_allclose(np.diag(mat[:, :2]), [99 / 200, 49 / 200])


def test_warp_matrix_rotation_is_rotation_about_center_then_zoom():
    theta = 30.0
    mat = get_warp_matrix(theta, CENTER * 2, OUT - 1.0, SCALE_PX)
    rad = np.deg2rad(theta)
    rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    zoom = (OUT - 1.0) / SCALE_PX
    pts = random_points()
    expected = (((pts - CENTER) @ rot.T) + SCALE_PX / 2) * zoom
    np.testing.assert_allclose(affine_transform_points(pts, mat), expected, atol=1e-9)


@pytest.mark.parametrize('rot', [0.0, 25.0, -60.0])
def test_crop_matrix_is_the_classic_or_the_udp_crop(rot):
    np.testing.assert_array_equal(crop_matrix(CENTER, SCALE_PX, rot, OUT),
                                  get_affine_transform(CENTER, SCALE_PX, rot, OUT))
    np.testing.assert_array_equal(crop_matrix(CENTER, SCALE_PX, rot, OUT, use_udp=True),
                                  get_warp_matrix(rot, CENTER * 2, OUT - 1.0, SCALE_PX))


@pytest.mark.parametrize('use_udp', [False, True])
@pytest.mark.parametrize('rot', [0.0, 40.0])
def test_crop_matrix_inverse_undoes_the_forward_matrix(use_udp, rot):
    fwd = crop_matrix(CENTER, SCALE_PX, rot, OUT, use_udp=use_udp)
    inv = crop_matrix(CENTER, SCALE_PX, rot, OUT, use_udp=use_udp, inv=True)
    assert fwd.shape == inv.shape == (2, 3) and fwd.dtype == inv.dtype == np.float64
    pts = random_points()
    back = affine_transform_points(affine_transform_points(pts, fwd), inv)
    np.testing.assert_allclose(back, pts, atol=1e-3)


@pytest.mark.parametrize('use_udp', [False, True])
def test_transform_preds_applies_the_inverse_crop_matrix(use_udp):
    coords = random_points(17, seed=3).reshape(1, 17, 2)
    inv = crop_matrix(CENTER, SCALE_PX, 0.0, [48, 64], use_udp=use_udp, inv=True)
    np.testing.assert_array_equal(transform_preds(coords, CENTER, SCALE_PX, [48, 64],
                                                  use_udp=use_udp),
                                  affine_transform_points(coords, inv))


def test_affine_transform_points_keeps_leading_shape():
    mat = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, -1.0]])
    pts = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    out = affine_transform_points(pts, mat)
    assert out.shape == (3, 4, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], pts[..., 0] * 2 + 1)
    np.testing.assert_allclose(out[..., 1], pts[..., 1] * 3 - 1)


def test_affine_transform_points_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'\(\.\.\., 2\)'):
        affine_transform_points(np.zeros((4, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r'\(2, 3\)'):
        affine_transform_points(np.zeros((4, 2)), np.zeros((3, 3)))


@pytest.mark.parametrize('use_udp', [False, True])
def test_transform_preds_inverts_the_crop_into_heatmap_space(use_udp):
    hm_size = np.array([48, 64])
    if use_udp:
        fwd = get_warp_matrix(0.0, CENTER * 2, hm_size - 1.0, SCALE_PX)
    else:
        fwd = get_affine_transform(CENTER, SCALE_PX, 0.0, hm_size)
    pts = random_points(17).reshape(1, 17, 2)
    crop = affine_transform_points(pts, fwd)
    back = transform_preds(crop, CENTER, SCALE_PX, hm_size, use_udp=use_udp)
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_transform_preds_udp_formula_and_extra_columns():
    coords = np.array([[0.0, 0.0, 0.7], [47.0, 63.0, 0.2]])
    out = transform_preds(coords, CENTER, SCALE_PX, [48, 64], use_udp=True)
    np.testing.assert_allclose(out[0, :2], CENTER - SCALE_PX / 2, atol=1e-9)
    np.testing.assert_allclose(out[1, :2], CENTER + SCALE_PX / 2, atol=1e-9)
    np.testing.assert_allclose(out[:, 2], [0.7, 0.2])


def test_transform_preds_non_udp_uses_output_size_spacing():
    out = transform_preds(np.array([[48.0, 64.0]]), CENTER, SCALE_PX, [48, 64])
    np.testing.assert_allclose(out[0], CENTER + SCALE_PX / 2, atol=1e-3)


def test_transform_preds_rejects_bad_shape():
    with pytest.raises(ValueError, match='coords'):
        transform_preds(np.zeros((2, 3, 4, 2)), CENTER, SCALE_PX, OUT)


def test_box_to_center_scale_pads_height_of_wide_box():
    center, scale = box_to_center_scale([10, 20, 100, 100], 0.75)
    np.testing.assert_allclose(center, [60, 70])
    np.testing.assert_allclose(scale, [100 / 200 * 1.25, 100 / 0.75 / 200 * 1.25], rtol=1e-6)
    assert center.dtype == np.float32 and scale.dtype == np.float32


def test_box_to_center_scale_pads_width_of_tall_box():
    center, scale = box_to_center_scale([0, 0, 30, 100], 0.75, pixel_std=200, padding=1.0)
    np.testing.assert_allclose(center, [15, 50])
    np.testing.assert_allclose(scale, [75 / 200, 100 / 200], rtol=1e-6)


def test_box_to_center_scale_batched_matches_single():
    boxes = np.array([[0, 0, 30, 100], [5, 5, 200, 40], [1, 2, 75, 100]], dtype=np.float64)
    centers, scales = box_to_center_scale(boxes, 0.75)
    for box, c, s in zip(boxes, centers, scales):
        c1, s1 = box_to_center_scale(box, 0.75)
        np.testing.assert_allclose(c, c1)
        np.testing.assert_allclose(s, s1)
    np.testing.assert_allclose(scales[2], [75 / 200 * 1.25, 100 / 200 * 1.25], rtol=1e-6)


def test_box_to_center_scale_rejects_bad_input():
    with pytest.raises(ValueError, match='box_xywh'):
        box_to_center_scale([1, 2, 3], 0.75)
    with pytest.raises(ValueError, match='aspect_ratio'):
        box_to_center_scale([1, 2, 3, 4], 0.0)


def test_center_scale_to_box_inverts_box_layout():
    center, scale = box_to_center_scale([10, 20, 150, 200], 0.75, padding=1.0)
    box, area = center_scale_to_box(center, scale)
    np.testing.assert_allclose(box, [10, 20, 160, 220], atol=1e-4)
    np.testing.assert_allclose(area, 150 * 200, rtol=1e-6)
    boxes, areas = center_scale_to_box(np.stack([center, center]), np.stack([scale, scale * 2]))
    assert boxes.shape == (2, 4)
    np.testing.assert_allclose(areas, [30000, 120000], rtol=1e-6)


def test_center_scale_to_box_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match='center and scale'):
        center_scale_to_box([1.0, 2.0], [[1.0, 2.0]])


def test_flip_permutation_swaps_pairs():
    perm = flip_permutation([[1, 2], [3, 4]], 6)
    np.testing.assert_array_equal(perm, [0, 2, 1, 4, 3, 5])
    np.testing.assert_array_equal(flip_permutation([], 3), [0, 1, 2])


def test_flip_permutation_rejects_bad_pairs():
    with pytest.raises(ValueError, match=r'flip_pairs\[1\] = \[3, 7\].*5 joints'):
        flip_permutation([[1, 2], [3, 7]], 5)
    with pytest.raises(ValueError, match='joint 2 more than once'):
        flip_permutation([[1, 2], [2, 3]], 5)
    with pytest.raises(ValueError, match='pairs'):
        flip_permutation([1, 2, 3], 5)
