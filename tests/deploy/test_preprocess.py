"""The deploy preprocessing: ``infer_cfg.yml`` ``Preprocess`` lists built by
``ppkpt.data.transforms.preprocess.build_preprocess``, as the deploy detectors build them.

Covers PaddleDetection's detector ops (``Resize`` [h, w], ``PadStride``), ppkpt's ``DetResize``
(fit and pad), ``NormalizeImage`` against its formula, the codec-driven ``TopDownEvalAffine`` and
the build errors.
"""
import cv2
import numpy as np
import pytest

from ppkpt.codecs import HeatmapCodec
from ppkpt.data.transforms.preprocess import TopDownEvalAffine, build_preprocess
from ppkpt.geometry import crop_matrix

CODEC = HeatmapCodec([24, 32], [6, 8])


def _image(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, size=(h, w, 3), dtype=np.uint8)


def _detector_record(image: np.ndarray) -> dict:
    """The record ``deploy.python.det_infer.Detector`` starts from."""
    return {'image': image, 'im_shape': np.asarray(image.shape[:2], np.float32),
            'scale_factor': np.ones(2, np.float32)}


def _run(specs: list, record: dict, codec=None) -> dict:
    return build_preprocess(specs, codec, 'test/infer_cfg.yml')(record)


def test_paddledetection_resize_keep_ratio_uses_short_and_long_side() -> None:
    out = _run([{'type': 'Resize', 'target_size': [320, 480], 'keep_ratio': True}],
               _detector_record(_image(100, 200)))
    # short 100 -> 320 would make long 640 > 480, so the long side limits: ratio 2.4
    assert out['image'].shape[:2] == (240, 480)
    np.testing.assert_allclose(out['scale_factor'], [2.4, 2.4])
    np.testing.assert_allclose(out['im_shape'], [240, 480])


def test_paddledetection_resize_stretch_is_h_w() -> None:
    out = _run([{'type': 'Resize', 'target_size': [50, 400], 'keep_ratio': False}],
               _detector_record(_image(100, 200)))
    assert out['image'].shape[:2] == (50, 400)
    np.testing.assert_allclose(out['scale_factor'], [0.5, 2.0])
    np.testing.assert_allclose(out['im_shape'], [50, 400])


def test_ppkpt_detresize_fits_and_pads_to_w_h() -> None:
    image = np.full((100, 100, 3), 7, np.uint8)
    out = _run([{'type': 'DetResize', 'target_size': [128, 64], 'keep_ratio': True}],
               _detector_record(image))
    assert out['image'].shape[:2] == (64, 128)
    assert np.all(out['image'][:, :64] == 7) and np.all(out['image'][:, 64:] == 0)
    np.testing.assert_allclose(out['scale_factor'], [0.64, 0.64])


def test_ppkpt_detresize_stretches_without_keep_ratio() -> None:
    out = _run([{'type': 'DetResize', 'target_size': [128, 64]}], _detector_record(_image(100, 50)))
    assert out['image'].shape[:2] == (64, 128)
    np.testing.assert_allclose(out['scale_factor'], [0.64, 2.56])


def test_pad_stride_pads_chw_to_multiples() -> None:
    out = _run([{'type': 'PadStride', 'stride': 32}],
               {'image': np.ones((3, 30, 33), np.float32)})
    assert out['image'].shape == (3, 32, 64)
    assert out['image'][:, :30, :33].sum() == 3 * 30 * 33 and out['image'].sum() == 3 * 30 * 33
    same = _run([{'type': 'PadStride', 'stride': 0}], {'image': np.ones((3, 30, 33), np.float32)})
    assert same['image'].shape == (3, 30, 33)


def test_detector_pipeline_normalises_and_permutes() -> None:
    out = _run([{'type': 'NormalizeImage', 'mean': [0.5] * 3, 'std': [0.25] * 3,
                 'is_scale': True}, {'type': 'Permute'}],
               _detector_record(np.full((2, 5, 3), 255, np.uint8)))
    assert out['image'].shape == (3, 2, 5) and out['image'].dtype == np.float32
    np.testing.assert_allclose(out['image'], 2.0)


@pytest.mark.parametrize('is_scale', [True, False])
@pytest.mark.parametrize('norm_type', ['mean_std', 'none'])
def test_normalize_matches_the_plain_formula(is_scale: bool, norm_type: str) -> None:
    image = _image(40, 30)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    if not is_scale:
        mean, std = mean * 255, std * 255
    out = _run([{'type': 'NormalizeImage', 'mean': mean.tolist(), 'std': std.tolist(),
                 'is_scale': is_scale, 'norm_type': norm_type}], {'image': image})['image']
    expected = image / 255.0 if is_scale else image.astype(np.float64)
    if norm_type == 'mean_std':
        expected = ((expected - mean.astype(np.float32).astype(np.float64))
                    / std.astype(np.float32).astype(np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6 if is_scale else 1e-4)


def test_normalize_rejects_images_without_three_channels() -> None:
    with pytest.raises(ValueError, match=r'NormalizeImage.*\(H, W, 3\)'):
        _run([{'type': 'NormalizeImage'}], {'image': np.zeros((2, 3, 4), np.uint8)})


@pytest.mark.parametrize('target_type', ['gaussian', 'udp'])
def test_topdown_eval_affine_warps_with_the_codec_crop_matrix(target_type: str) -> None:
    codec = HeatmapCodec([24, 32], [6, 8], target_type=target_type)
    image = _image(90, 70)
    center = np.array([33.0, 41.5], np.float32)  # records hold float32, as the datasets do
    scale = np.array([0.2, 0.3], np.float32)
    out = _run([{'type': 'TopDownEvalAffine', 'trainsize': [24, 32]}],
               {'image': image, 'center': center, 'scale': scale}, codec)
    mat = crop_matrix(center, scale.astype(np.float64) * 200.0, 0.0, [24, 32],
                      use_udp=target_type == 'udp')
    np.testing.assert_array_equal(out['image'], cv2.warpAffine(image, mat, (24, 32),
                                                               flags=cv2.INTER_LINEAR))


def test_topdown_eval_affine_whole_image_and_given_center_scale() -> None:
    image = np.zeros((100, 60, 3), np.uint8)
    image[30:70, 20:40] = 255
    affine = TopDownEvalAffine(HeatmapCodec([30, 50], [8, 13]))
    out = affine({'image': image})
    assert out['image'].shape == (50, 30, 3)
    np.testing.assert_allclose(out['center'], [30, 50])
    np.testing.assert_allclose(out['scale'] * 200, [60, 100])
    assert out['image'][25, 15].min() == 255  # the centre stays the centre
    boxed = affine({'image': image, 'center': np.array([30.0, 50.0]),
                    'scale': np.array([0.08, 0.08 * 5 / 3])})
    assert boxed['image'].min() == 255  # a 16x27 box inside the 20x40 white block


def test_decode_entries_are_skipped() -> None:
    pipeline = build_preprocess([{'type': 'Decode'}, {'type': 'Permute'}])
    assert [type(op).__name__ for op in pipeline.ops] == ['Permute']


def test_unknown_op_names_index_and_supported() -> None:
    with pytest.raises(ValueError, match=r'test/infer_cfg.yml: Preprocess\[1\] has unknown type '
                                         r"'Mosaic'; supported: \['DetResize'"):
        build_preprocess([{'type': 'Decode'}, {'type': 'Mosaic'}], source='test/infer_cfg.yml')


def test_bad_arguments_name_the_entry_index() -> None:
    with pytest.raises(ValueError, match=r'Preprocess\[0\] \(Permute\) has bad arguments'):
        build_preprocess([{'type': 'Permute', 'to_bgr': True}])
    with pytest.raises(ValueError, match=r'Preprocess\[1\] \(TopDownEvalAffine\) needs the model '
                                         r'codec'):
        build_preprocess([{'type': 'Permute'}, {'type': 'TopDownEvalAffine'}])
    with pytest.raises(ValueError, match=r'Preprocess\[0\] \(TopDownEvalAffine\): trainsize '
                                         r'\[32, 32\] differs from the codec input size '
                                         r'\[24, 32\]'):
        build_preprocess([{'type': 'TopDownEvalAffine', 'trainsize': [32, 32]}], CODEC)
    with pytest.raises(ValueError, match=r'Preprocess\[0\] \(TopDownEvalAffine\): use_udp True'):
        build_preprocess([{'type': 'TopDownEvalAffine', 'use_udp': True}], CODEC)
