"""Deploy preprocess ops, including PaddleDetection detector op semantics."""
import cv2
import numpy as np
import pytest

from deploy.python.preprocess import (DetResize, NormalizeImage, PadStride, Permute, Resize,
                                      TopDownEvalAffine, build_preprocess, decode_image)
from ppkpt.geometry import crop_matrix


def _image(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, size=(h, w, 3), dtype=np.uint8)


def test_paddledetection_resize_keep_ratio_uses_short_and_long_side() -> None:
    image, info = decode_image(_image(100, 200))
    out, info = Resize(target_size=[320, 480], keep_ratio=True)(image, info)
    # short 100 -> 320 would make long 640 > 480, so the long side limits: ratio 2.4
    assert out.shape[:2] == (240, 480)
    np.testing.assert_allclose(info['scale_factor'], [2.4, 2.4])
    np.testing.assert_allclose(info['im_shape'], [240, 480])


def test_paddledetection_resize_stretch_is_h_w() -> None:
    image, info = decode_image(_image(100, 200))
    out, info = Resize(target_size=[50, 400], keep_ratio=False)(image, info)
    assert out.shape[:2] == (50, 400)
    np.testing.assert_allclose(info['scale_factor'], [0.5, 2.0])


def test_ppkpt_detresize_fits_and_pads_to_w_h() -> None:
    image, info = decode_image(_image(100, 100))
    out, info = DetResize(target_size=[128, 64], keep_ratio=True)(image, info)
    assert out.shape[:2] == (64, 128)
    assert np.all(out[:, 64:] == 0)
    np.testing.assert_allclose(info['scale_factor'], [0.64, 0.64])


def test_pad_stride_pads_chw_to_multiples() -> None:
    chw = np.ones((3, 30, 33), np.float32)
    out, _ = PadStride(32)(chw, {})
    assert out.shape == (3, 32, 64) and out[:, :30, :33].sum() == 3 * 30 * 33


def test_normalize_and_permute() -> None:
    image = np.full((2, 2, 3), 255, np.uint8)
    out, _ = NormalizeImage([0.5] * 3, [0.25] * 3)(image, {})
    out, _ = Permute()(out, {})
    assert out.shape == (3, 2, 2)
    np.testing.assert_allclose(out, 2.0)


@pytest.mark.parametrize('is_scale', [True, False])
@pytest.mark.parametrize('norm_type', ['mean_std', 'none'])
def test_normalize_matches_the_plain_formula(is_scale: bool, norm_type: str) -> None:
    image = _image(40, 30)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    if not is_scale:
        mean, std = mean * 255, std * 255
    out, _ = NormalizeImage(mean.tolist(), std.tolist(), is_scale, norm_type)(image, {})
    expected = image / 255.0 if is_scale else image.astype(np.float64)
    if norm_type == 'mean_std':
        expected = ((expected - mean.astype(np.float32).astype(np.float64))
                    / std.astype(np.float32).astype(np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_normalize_none_keeps_any_channel_count() -> None:
    image = np.full((2, 3, 4), 51, np.uint8)
    out, _ = NormalizeImage(norm_type='none')(image, {})
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, 0.2)


@pytest.mark.parametrize('use_udp', [False, True])
def test_topdown_eval_affine_warps_with_the_shared_crop_matrix(use_udp: bool) -> None:
    image = _image(90, 70)
    center, scale = np.array([33.0, 41.5]), np.array([0.2, 0.3])
    out, _ = TopDownEvalAffine([24, 32], use_udp=use_udp)(image, {'center': center,
                                                                 'scale': scale})
    mat = crop_matrix(center, scale * 200.0, 0.0, [24, 32], use_udp=use_udp)
    np.testing.assert_array_equal(out, cv2.warpAffine(image, mat, (24, 32),
                                                      flags=cv2.INTER_LINEAR))


def test_topdown_eval_affine_whole_image_and_given_box() -> None:
    image = np.zeros((100, 60, 3), np.uint8)
    image[30:70, 20:40] = 255
    out, info = TopDownEvalAffine([30, 50])(image, {})
    assert out.shape == (50, 30, 3)
    np.testing.assert_allclose(info['center'], [30, 50])
    np.testing.assert_allclose(info['scale'] * 200, [60, 100])
    assert out[25, 15].min() == 255  # the centre stays the centre
    boxed, _ = TopDownEvalAffine([30, 50])(image, {'center': np.array([30.0, 50.0]),
                                                   'scale': np.array([0.08, 0.08 * 5 / 3])})
    assert boxed.min() == 255  # a 16x27 box inside the 20x40 white block


def test_unknown_op_names_index_and_supported() -> None:
    with pytest.raises(ValueError, match=r'Preprocess\[1\].*Mosaic.*supported'):
        build_preprocess([{'type': 'Decode'}, {'type': 'Mosaic'}])
    with pytest.raises(ValueError, match=r'Preprocess\[0\] \(Permute\) has bad arguments'):
        build_preprocess([{'type': 'Permute', 'to_bgr': True}])


def test_decode_image_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        decode_image(str(tmp_path / 'missing.jpg'))
