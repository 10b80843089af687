"""HigherHRNet evaluation: codec flip / scale merging, grouping and mapping back with ``affine``."""
import os

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ppkpt.codecs import AssociativeEmbeddingCodec
from ppkpt.core.workspace import ConfigError, create, load_config
from ppkpt.data.transforms.preprocess import EvalAffine
from ppkpt.geometry import affine_transform_points
from ppkpt.modeling.architectures.higherhrnet import HigherHRNet, joint_permutation
from ppkpt.modeling.heads.hrhrnet_head import HrHRNetHead
from tests.modeling.architectures.higherhrnet_parts import StandInLoss, TinyBackbone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
W32_512 = os.path.join(ROOT, 'configs/keypoint/higherhrnet/higherhrnet_hrnet_w32_512.yml')


def _codec(**kwargs):
    return AssociativeEmbeddingCodec([96, 64], **kwargs)


def _model(codec=None, eval_flip=True, flip_perm=([1, 2],), num_joints=4, **kwargs):
    paddle.seed(1)
    model = HigherHRNet(TinyBackbone(8), HrHRNetHead(num_joints, width=8, loss=StandInLoss()),
                        codec=codec, eval_flip=eval_flip,
                        flip_perm=list(flip_perm), **kwargs)
    model.eval()
    return model


def _image(height=64, width=96, seed=3):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.normal(size=(1, 3, height, width)).astype('float32'))


def _raw(model, image):
    with paddle.no_grad():
        return [t.numpy() for t in model.predict_outputs(image)]


def test_flip_maps_are_the_codec_merge_of_both_passes():
    model = _model(_codec())
    image = _image()
    with paddle.no_grad():
        maps = model.test_maps(image)
    plain, mirrored = _raw(model, image), _raw(model, paddle.flip(image, axis=[3]))
    back = [np.stack([m[:, j, :, ::-1] for j in (0, 2, 1, 3)], axis=1) for m in mirrored]
    assert maps['heatmaps'].shape == (1, 4, 32, 48) and maps['tags'].shape == (1, 4, 32, 48, 2)
    np.testing.assert_allclose(maps['heatmaps'], (plain[0] + back[0]) / 2, atol=1e-5)
    np.testing.assert_allclose(maps['tags'][..., 0], plain[1], atol=1e-5)
    np.testing.assert_allclose(maps['tags'][..., 1], back[1], atol=1e-5)


def test_eval_forward_decodes_each_image_and_maps_back_with_affine():
    codec = _codec(detection_threshold=0.0)
    model = _model(codec)
    image = _image()
    affine = np.array([[[2.0, 0.0, 10.0], [0.0, 2.0, -4.0]]])
    with paddle.no_grad():
        out = model({'image': image, 'affine': paddle.to_tensor(affine)})
        maps = model.test_maps(image)
    expected_kpts, expected_scores = codec.decode_to_image(maps, input_to_image=affine[0])
    assert sorted(out) == ['keypoint', 'score']
    assert len(out['keypoint']) == len(out['score']) == 1
    kpts, scores = out['keypoint'][0], out['score'][0]
    assert kpts.ndim == 3 and kpts.shape[1:] == (4, 3) and len(kpts) >= 1
    assert scores.shape == (len(kpts),) and np.all(np.diff(scores) <= 0)
    np.testing.assert_array_equal(kpts, expected_kpts)
    np.testing.assert_array_equal(scores, expected_scores)
    with pytest.raises(KeyError, match="inputs\\['affine'\\]"):
        model({'image': image})


def _target_maps(codec, joints):
    """Stride-2 maps a perfect network would give: the codec's heatmaps and, per joint, the
    tag of the person whose Gaussian is highest at each pixel."""
    visible = np.ones(joints.shape[:2])
    heatmaps = codec.encode(joints, visible)['heatmap_gt2x']
    per_person = np.stack([codec.encode(joints[p:p + 1], visible[p:p + 1])['heatmap_gt2x']
                           for p in range(len(joints))])
    tags = np.argmax(per_person, axis=0).astype(np.float32) * 3.0
    return {'heatmaps': heatmaps[None], 'tags': tags[None]}


def test_decode_recovers_people_in_image_pixels():
    """Ground-truth maps of three people of a 300x200 image, resized as EvalAffine does, come
    back as the three people in image pixels within the map quantisation."""
    resize = EvalAffine(size=64, stride=32)
    to_input, to_image = resize.matrices(300, 200)
    assert resize.input_size(300, 200) == (96, 64)
    image_joints = np.array([[[30, 40], [50, 42], [40, 70], [45, 100]],
                             [[150, 30], [170, 35], [160, 80], [165, 120]],
                             [[240, 100], [260, 98], [250, 140], [255, 180]]], np.float64)
    input_joints = affine_transform_points(image_joints, to_input)
    model = _model(_codec())
    out = model.decode(_target_maps(model.codec, input_joints), to_image[None])
    kpts, scores = out['keypoint'][0], out['score'][0]
    assert kpts.shape == (3, 4, 3) and np.allclose(scores, 1.0)
    order = np.argsort(kpts[:, 0, 0])
    error = np.abs(kpts[order, :, :2] - image_joints)
    # a map pixel at stride 2 is 2 input px = 2 * 200 / 64 = 6.25 image px wide
    assert error.max() <= 6.25 / 2 + 1e-6
    np.testing.assert_allclose(kpts[:, :, 2], 1.0)


def test_multi_scale_test_merges_the_scales_with_the_codec():
    codec = _codec()
    model = _model(codec, test_scales=[1.0, 0.5])
    image = _image()
    with paddle.no_grad():
        maps = model.test_maps(image)
        single = _model(codec).test_maps(image)
        half = _model(codec).test_maps(F.interpolate(image, size=[32, 64], mode='bilinear',
                                                     align_corners=False))
    assert maps['heatmaps'].shape == (1, 4, 32, 48) and maps['tags'].shape == (1, 4, 32, 48, 4)
    expected = codec.merge_scales([single, half], size=(48, 32))
    for key in ('heatmaps', 'tags'):
        np.testing.assert_allclose(maps[key], expected[key], atol=1e-5)


def test_without_flip_and_without_codec_the_maps_come_back():
    model = _model(None, eval_flip=False)
    image = _image()
    with paddle.no_grad():
        out = model({'image': image})
    plain = _raw(model, image)
    assert sorted(out) == ['heatmaps', 'tags'] and out['tags'].shape == (1, 4, 32, 48, 1)
    np.testing.assert_array_equal(out['heatmaps'], plain[0])
    with pytest.raises(ValueError, match='needs the codec'):
        with paddle.no_grad():
            _model(None, eval_flip=True).test_maps(image)


def test_flip_pairs_from_a_permutation_and_checks():
    model = _model(_codec(), flip_perm=[0, 2, 1, 3])
    assert model.flip_pairs == [[1, 2]]
    assert _model(_codec(), flip_perm=[]).flip_pairs == []
    with pytest.raises(ValueError, match='does not swap joints in pairs'):
        joint_permutation([1, 2, 0], 3)
    with pytest.raises(ValueError, match='codec keeps 30'):
        _model(_codec(), max_num_people=20)
    assert _model(_codec(max_num_people=20), max_num_people=20).max_num_people == 20
    with pytest.raises(ValueError, match='test_scales'):
        _model(_codec(), test_scales=[1.0, 0.0])


def test_config_shares_the_codec_and_rejects_a_section_codec(tmp_path):
    cfg = load_config(W32_512)
    model = create('HigherHRNet', cfg)
    assert isinstance(model.codec, AssociativeEmbeddingCodec) and model.eval_flip
    assert model.codec.input_size.tolist() == [512, 512] and model.max_num_people == 30
    assert model.flip_pairs == cfg['flip_perm']
    bad = tmp_path / 'bad.yml'
    bad.write_text(f'_BASE_: [{W32_512}]\nHigherHRNet:\n  codec: !AssociativeEmbeddingCodec '
                   f'{{input_size: [512, 512]}}\n')
    with pytest.raises(ConfigError, match='set once, at the top level'):
        create('HigherHRNet', load_config(str(bad)))
