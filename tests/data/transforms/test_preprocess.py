"""The deterministic preprocessing shared by evaluation, inference and deploy."""
from pathlib import Path

import cv2
import numpy as np
import pytest

import ppkpt.data.transforms as transforms
from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.core.workspace import ConfigError, LazyObject, build_object, build_ops
from ppkpt.data.transforms import preprocess
from ppkpt.data.transforms.common import Compose, Decode
from ppkpt.data.transforms.preprocess import (NormalizeImage, PadStride, Permute, Resize,
                                              TopDownEvalAffine, build_preprocess)
from ppkpt.geometry import crop_matrix, transform_preds

IMAGE = Path(__file__).resolve().parents[1] / 'coco' / '000000000785.jpg'
TRAINSIZE = [192, 256]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def codec(target_type='gaussian', input_size=TRAINSIZE, heatmap_size=(48, 64)):
    return HeatmapCodec(list(input_size), list(heatmap_size), 2.0, target_type)


@pytest.fixture(scope='module')
def image():
    """Image 785 of the COCO fixture, 640x425 RGB."""
    return cv2.cvtColor(cv2.imread(str(IMAGE)), cv2.COLOR_BGR2RGB)


def test_ops_live_in_preprocess_and_are_reexported():
    for name in ('NormalizeImage', 'Permute', 'TopDownEvalAffine', 'DetResize', 'Resize',
                 'PadStride'):
        assert getattr(transforms, name) is getattr(preprocess, name)
        assert preprocess.PREPROCESS_OPS[name] is getattr(preprocess, name)


# --------------------------------------------------------------------------- normalise, layout


def test_normalize_image_values():
    image = np.array([[[255, 0, 51]]], dtype=np.uint8)
    out = NormalizeImage(mean=[0.5, 0.5, 0.2], std=[0.5, 0.25, 0.1])({'image': image})
    np.testing.assert_allclose(out['image'][0, 0], [1.0, -2.0, 0.0], atol=1e-6)
    assert out['image'].dtype == np.float32
    raw = NormalizeImage(mean=[10, 20, 30], std=[2, 2, 2], is_scale=False)({'image': image})
    np.testing.assert_allclose(raw['image'][0, 0], [122.5, -10.0, 10.5])


@pytest.mark.parametrize('is_scale', [True, False])
def test_normalize_image_matches_the_plain_formula(is_scale):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    if not is_scale:
        mean, std = mean * 255, std * 255
    original = image.copy()
    out = NormalizeImage(mean.tolist(), std.tolist(), is_scale=is_scale)({'image': image})
    mean32 = mean.astype(np.float32).astype(np.float64)
    std32 = std.astype(np.float32).astype(np.float64)
    expected = ((image / 255.0 if is_scale else image) - mean32) / std32
    assert out['image'].dtype == np.float32 and out['image'].flags['C_CONTIGUOUS']
    np.testing.assert_allclose(out['image'], expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(image, original)  # the input is not modified


def test_normalize_image_takes_strided_and_float_images():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    op = NormalizeImage(mean=[0.1, 0.2, 0.3], std=[0.3, 0.2, 0.1])
    expected = op({'image': image[:, ::-1].copy()})['image']
    np.testing.assert_array_equal(op({'image': image[:, ::-1]})['image'], expected)
    np.testing.assert_array_equal(op({'image': image.astype(np.float64)})['image'],
                                  op({'image': image})['image'])
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        op({'image': np.zeros((4, 4, 4), np.uint8)})


def test_normalize_image_rejects_bad_arguments():
    with pytest.raises(ValueError, match='3 values'):
        NormalizeImage(mean=[0.5, 0.5], std=[1, 1, 1])
    with pytest.raises(ValueError, match='non-zero'):
        NormalizeImage(std=[1, 0, 1])


def test_permute_gives_contiguous_chw_float32():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out = Permute()({'image': image})['image']
    assert out.shape == (3, 2, 3) and out.dtype == np.float32 and out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out[1], image[:, :, 1])


def test_normalize_image_none_only_scales():
    image = np.array([[[255, 0, 51]]], dtype=np.uint8)
    out = NormalizeImage(mean=[9, 9, 9], std=[3, 3, 3], norm_type='none')({'image': image})
    np.testing.assert_allclose(out['image'][0, 0], [1.0, 0.0, 0.2], atol=1e-7)
    raw = NormalizeImage(is_scale=False, norm_type='none')({'image': image})
    np.testing.assert_array_equal(raw['image'][0, 0], [255.0, 0.0, 51.0])
    with pytest.raises(ValueError, match="norm_type must be 'mean_std' or 'none'"):
        NormalizeImage(norm_type='minmax')


def test_normalize_and_permute_build_from_config():
    op = build_object({'NormalizeImage': {'mean': [0.1, 0.2, 0.3], 'std': [1, 1, 1]}},
                      'EvalReader.batch_transforms[0]', {})
    np.testing.assert_allclose(op.mean, [0.1, 0.2, 0.3])
    assert isinstance(build_object({'Permute': None}, 'EvalReader.batch_transforms[1]', {}),
                      Permute)


# --------------------------------------------------------------------------- detector resizes


def test_paddledetection_resize_is_h_w_and_keeps_the_ratio():
    record = {'image': np.zeros((100, 200, 3), np.uint8),
              'gt_bbox': np.array([[10, 20, 110, 60]], np.float32)}
    out = Resize(target_size=[320, 480], keep_ratio=True)(record)
    # short 100 -> 320 would make long 640 > 480, so the long side limits: ratio 2.4
    assert out['image'].shape[:2] == (240, 480)
    np.testing.assert_allclose(out['scale_factor'], [2.4, 2.4])
    np.testing.assert_allclose(out['im_shape'], [240, 480])
    np.testing.assert_allclose(out['gt_bbox'], [[24, 48, 264, 144]], rtol=1e-6)
    stretched = Resize(target_size=[50, 400], keep_ratio=False)(
        {'image': np.zeros((100, 200, 3), np.uint8)})
    assert stretched['image'].shape[:2] == (50, 400)
    np.testing.assert_allclose(stretched['scale_factor'], [0.5, 2.0])


def test_pad_stride_pads_chw_to_multiples():
    out = PadStride(32)({'image': np.ones((3, 30, 33), np.float32)})['image']
    assert out.shape == (3, 32, 64) and out[:, :30, :33].sum() == 3 * 30 * 33
    assert out.sum() == 3 * 30 * 33
    same = np.ones((3, 30, 33), np.float32)
    assert PadStride(0)({'image': same})['image'] is same


# --------------------------------------------------------------------------- TopDownEvalAffine


@pytest.mark.parametrize('target_type', ['gaussian', 'udp'])
def test_eval_affine_uses_the_record_center_and_scale_first(image, target_type):
    center = np.array([300.0, 200.0], np.float32)
    scale = np.array([0.9, 1.2], np.float32)       # the datasets give float32
    record = {'image': image.copy(), 'center': center, 'scale': scale,
              'bbox': [0.0, 0.0, 10.0, 10.0]}
    out = TopDownEvalAffine(codec(target_type))(record)
    mat = crop_matrix(center, scale.astype(np.float64) * 200.0, 0.0, TRAINSIZE,
                      use_udp=target_type == 'udp')
    np.testing.assert_array_equal(out['image'], cv2.warpAffine(image, mat, tuple(TRAINSIZE),
                                                               flags=cv2.INTER_LINEAR))
    np.testing.assert_allclose(out['center'], center)
    np.testing.assert_allclose(out['scale'], scale)
    assert out['center'].dtype == np.float32 and out['rotate'] == 0.0


def test_eval_affine_clips_and_pads_a_bbox_by_1_25(image):
    inside = TopDownEvalAffine(codec())({'image': image.copy(), 'bbox': [100, 50, 80, 200]})
    # clipped to the last pixel: (100, 50, 79, 199); width padded to 0.75 * 199, then x1.25
    np.testing.assert_allclose(inside['center'], [139.5, 149.5])
    np.testing.assert_allclose(inside['scale'], np.array([0.75 * 199, 199]) / 200 * 1.25,
                               rtol=1e-6)
    corner = TopDownEvalAffine(codec())({'image': image.copy(), 'bbox': [600, 400, 100, 100]})
    # only (600, 400)-(639, 424) lies inside the 640x425 image: 39 x 24, height padded
    np.testing.assert_allclose(corner['center'], [619.5, 412.0])
    np.testing.assert_allclose(corner['scale'], np.array([39, 39 / 0.75]) / 200 * 1.25,
                               rtol=1e-6)
    wide = TopDownEvalAffine(codec(), padding=1.0)({'image': image.copy(),
                                                    'bbox': [0, 0, 641, 101]})
    np.testing.assert_allclose(wide['scale'], np.array([639, 639 / 0.75]) / 200, rtol=1e-6)


def test_eval_affine_keeps_a_box_outside_the_image(image):
    out = TopDownEvalAffine(codec())({'image': image.copy(), 'bbox': [700, 500, 20, 40]})
    np.testing.assert_allclose(out['center'], [710, 520])
    np.testing.assert_allclose(out['scale'], np.array([30, 40]) / 200 * 1.25, rtol=1e-6)
    assert out['image'].shape == (256, 192, 3) and out['image'].max() == 0


def test_eval_affine_crop_shows_the_box_content():
    canvas = np.zeros((300, 400, 3), np.uint8)
    canvas[100:200, 250:300] = 255                   # a 50x100 white block
    out = TopDownEvalAffine(codec(input_size=(30, 60), heatmap_size=(8, 15)))(
        {'image': canvas, 'bbox': [250, 100, 50, 100]})
    crop = out['image'][..., 0].astype(float)
    # the padded box is 1.25x the block, so the middle 80 % of the crop is white, the rim black
    assert crop[8:52, 4:26].min() == 255
    assert crop[:3].max() == 0 and crop[-3:].max() == 0 and crop[:, :2].max() == 0


@pytest.mark.parametrize('target_type', ['gaussian', 'udp'])
def test_eval_affine_whole_image_maps_back(image, target_type):
    use_udp = target_type == 'udp'
    out = TopDownEvalAffine(codec(target_type))({'image': image.copy()})
    assert out['image'].shape == (256, 192, 3)
    np.testing.assert_allclose(out['center'], [320, 212.5])
    np.testing.assert_allclose(out['scale'], [640 / 200, 640 / 0.75 / 200], rtol=1e-6)
    assert out['rotate'] == 0.0
    crop_center = np.array([[95.5, 127.5]]) if use_udp else np.array([[96.0, 128.0]])
    back = transform_preds(crop_center, out['center'], out['scale'] * 200, TRAINSIZE,
                           use_udp=use_udp)
    np.testing.assert_allclose(back[0], [320, 212.5], atol=1e-3)
    corners = transform_preds(np.array([[0.0, 0.0], [191.0, 255.0]]), out['center'],
                              out['scale'] * 200, TRAINSIZE, use_udp=use_udp)
    assert corners[0, 1] < 0 and corners[1, 1] > 425  # the whole height fits in the crop


def test_eval_affine_pads_a_tall_image_to_the_aspect():
    tall = np.zeros((400, 100, 3), dtype=np.uint8)
    tall[:, :, 0] = 200
    out = TopDownEvalAffine(codec())({'image': tall})
    np.testing.assert_allclose(out['scale'], [300 / 200, 400 / 200], rtol=1e-6)
    assert out['image'][128, 96, 0] == 200 and out['image'][128, 5, 0] == 0


def test_eval_affine_rejects_bad_padding():
    with pytest.raises(ValueError, match='padding must be positive'):
        TopDownEvalAffine(codec(), padding=0)


def test_eval_affine_takes_the_shared_codec_and_pixel_std():
    cfg = {'trainsize': [48, 64], 'hmsize': [12, 16], 'pixel_std': 100,
           'codec': LazyObject('HeatmapCodec', {'target_type': 'udp'})}
    op = build_object({'TopDownEvalAffine': {}}, 'EvalReader.sample_transforms[0]', cfg)
    assert op.trainsize == [48, 64] and op.use_udp and op.pixel_std == 100
    out = op({'image': np.zeros((64, 48, 3), np.uint8)})
    np.testing.assert_allclose(out['scale'], [0.48, 0.64], rtol=1e-6)
    with pytest.raises(ConfigError, match=r'`trainsize` in EvalReader.sample_transforms\[0\]'
                                          r'.TopDownEvalAffine .* is now set as `trainsize'):
        build_object({'TopDownEvalAffine': {'trainsize': [48, 64]}},
                     'EvalReader.sample_transforms[0]', cfg)


# --------------------------------------------------------------------------- build_preprocess


INFER_SPECS = [{'type': 'Decode'}, {'type': 'TopDownEvalAffine', 'trainsize': [48, 64]},
               {'type': 'NormalizeImage', 'mean': MEAN, 'std': STD, 'is_scale': True},
               {'type': 'Permute'}]


def test_build_preprocess_gives_the_input_the_config_pipeline_gives(image):
    small = codec(input_size=(48, 64), heatmap_size=(12, 16))
    deploy = build_preprocess(INFER_SPECS, codec=small)
    assert isinstance(deploy, Compose)
    assert [type(op).__name__ for op in deploy.ops] == ['TopDownEvalAffine', 'NormalizeImage',
                                                        'Permute']
    cfg = {'trainsize': [48, 64], 'hmsize': [12, 16], 'codec': LazyObject('HeatmapCodec', {})}
    specs = [{'Decode': {}}, {'TopDownEvalAffine': {}},
             {'NormalizeImage': {'mean': MEAN, 'std': STD, 'is_scale': True}}, {'Permute': {}}]
    reader = Compose(build_ops(specs, 'TestReader.sample_transforms', cfg))
    assert isinstance(reader.ops[0], Decode)
    box = [100.0, 40.0, 120.0, 300.0]
    ours = deploy({'image': image.copy(), 'bbox': box})
    theirs = reader({'image': image.copy(), 'bbox': box})
    assert ours['image'].shape == (3, 64, 48)
    np.testing.assert_array_equal(ours['image'], theirs['image'])
    np.testing.assert_array_equal(ours['center'], theirs['center'])
    np.testing.assert_array_equal(ours['scale'], theirs['scale'])


def test_build_preprocess_checks_the_codec():
    small = codec(input_size=(48, 64), heatmap_size=(12, 16))
    with pytest.raises(ValueError, match=r'Preprocess\[1\] \(TopDownEvalAffine\) needs the '
                                         r'model codec'):
        build_preprocess(INFER_SPECS)
    with pytest.raises(ValueError, match=r'trainsize \[192, 256\] differs from the codec input '
                                         r'size \[48, 64\]'):
        build_preprocess([{'type': 'TopDownEvalAffine', 'trainsize': [192, 256]}], small)
    with pytest.raises(ValueError, match='use_udp True disagrees with the codec'):
        build_preprocess([{'type': 'TopDownEvalAffine', 'use_udp': True}], small)
    udp = codec('udp', input_size=(48, 64), heatmap_size=(12, 16))
    assert build_preprocess([{'type': 'TopDownEvalAffine', 'use_udp': True}], udp).ops[0].use_udp


def test_build_preprocess_names_unknown_ops_and_bad_arguments():
    with pytest.raises(ValueError, match=r"my.yml: Preprocess\[1\] has unknown type 'Mosaic'; "
                                         r"supported: \['DetResize'"):
        build_preprocess([{'type': 'Decode'}, {'type': 'Mosaic'}], source='my.yml')
    with pytest.raises(ValueError, match=r'Preprocess\[0\] \(Permute\) has bad arguments'):
        build_preprocess([{'type': 'Permute', 'to_bgr': True}])
