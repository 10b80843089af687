"""Deploy preprocess ops, including PaddleDetection detector op semantics."""
import numpy as np
import pytest

from deploy.python.preprocess import (DetResize, NormalizeImage, PadStride, Permute, Resize,
                                      TopDownEvalAffine, build_preprocess, decode_image)


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
