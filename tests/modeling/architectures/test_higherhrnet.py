"""HigherHRNet: PaddleDetection's state_dict, numeric parity, train / eval / export paths.

The numeric fixture (tests/data/ppdet_numeric/higherhrnet_hrnet_w18_256, see MANIFEST.md) ships
meta.json and every third row and column of the four reference outputs. Its 37.8 MB
weights.pdparams and its input.npy are not shipped: both are redrawn here from the recipe the
fixture documents, and checked against digests of the original files.
"""
import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import create
from ppkpt.engine.weights import set_state_dict_strict
from ppkpt.engine.exporter import export_model
from ppkpt.modeling.architectures.higherhrnet import HigherHRNet, joint_permutation
from ppkpt.modeling.backbones.hrnet import HRNet
from ppkpt.modeling.heads.hrhrnet_head import HrHRNetHead

from ppdet_fixture import (NUMERIC_DIR, npy_sha256, read_keys, read_meta, recipe_input,
                           recipe_weights, state_digest, state_entries)
from tests.modeling.architectures.higherhrnet_parts import StandInLoss, TinyBackbone

KEYS_STEM = 'higherhrnet_hrnet_w32_512'
FIXTURE_STEM = 'higherhrnet_hrnet_w18_256'
# sha256 over (name + b'\0' + float32 bytes) of every entry of the fixture's weights.pdparams,
# in its order, computed from the original file.
WEIGHTS_DIGEST = '049f1e032f736eda586eabb31775e59362b99b936362b2a1b85e769bf5d729b6'
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _model(width=18, num_joints=17, eval_flip=False, flip_perm=None):
    backbone = HRNet(width=width, freeze_at=-1, freeze_norm=False, return_idx=[0])
    head = HrHRNetHead(num_joints, width=width, loss=StandInLoss())
    return HigherHRNet(backbone, head, eval_flip=eval_flip, flip_perm=flip_perm)


def _image(batch=1, height=64, width=64, seed=0):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.normal(size=(batch, 3, height, width)).astype('float32'))


def test_state_dict_matches_paddledetection_w32():
    header, expected = read_keys(KEYS_STEM)
    model = _model(width=32)
    assert state_entries(model) == expected
    params = model.parameters()
    assert sum(int(np.prod(p.shape)) for p in params) == int(header['total_numel'])
    assert sum(int(np.prod(p.shape)) for p in params
               if not p.stop_gradient) == int(header['trainable_numel'])


def test_numeric_parity_with_paddledetection():
    meta = read_meta(FIXTURE_STEM)
    batch, _, height, width = meta['input_shape']
    image = recipe_input(batch, height, width)
    assert npy_sha256(image) == meta['files_sha256']['input.npy']
    model = _model(width=18, num_joints=meta['num_joints'])
    assert [n for n, _, _ in state_entries(model)] == [n for n, _, _ in read_keys(KEYS_STEM)[1]]
    state = recipe_weights(model, meta['conv_gain'])
    assert state_digest(state) == WEIGHTS_DIGEST
    set_state_dict_strict(model, state, 'the HigherHRNet fixture weights')
    model.eval()
    with paddle.no_grad():
        features = model.backbone(paddle.to_tensor(image))
        quarter, _, half = model.hrhrnet_head.raw_maps(features)
        heatmaps, tags = model.hrhrnet_head(features)
        merged = model({'image': paddle.to_tensor(image)})
    reference = np.load(NUMERIC_DIR / FIXTURE_STEM / 'outputs_every3rd.npz')
    ours = {'eval_heatmaps': heatmaps.numpy(), 'eval_tags': tags.numpy(),
            'quarter_heatmaps_tags': quarter.numpy(), 'half_heatmaps': half.numpy()}
    for name, values in ours.items():
        assert list(values.shape) == meta['outputs'][name]['shape']
        assert np.abs(values[..., ::3, ::3] - reference[name]).max() < 1e-5, name
    np.testing.assert_array_equal(merged['heatmaps'], ours['eval_heatmaps'])
    np.testing.assert_array_equal(merged['tags'], ours['eval_tags'][..., None])


def test_train_mode_returns_the_head_loss_of_the_three_maps():
    paddle.seed(0)
    model = _model(width=18, num_joints=17)
    model.train()
    losses = model({'image': _image(height=128, width=128)})
    heatmaps, half, tags = model.hrhrnet_head.loss.outputs
    assert heatmaps.shape == [1, 17, 32, 32]
    assert half.shape == [1, 17, 64, 64]
    assert tags.shape == [1, 17, 32, 32]
    losses['loss'].backward()
    assert np.abs(model.hrhrnet_head.conv1.weight.grad.numpy()).max() > 0
    assert np.abs(model.backbone.conv_layer1_1.conv.weight.grad.numpy()).max() > 0


@pytest.fixture(scope='module')
def flip_model():
    """Width 18, K = 4 with joints 1 and 2 mirrored, eval mode, flip test on."""
    paddle.seed(1)
    model = _model(width=18, num_joints=4, eval_flip=True, flip_perm=[[1, 2]])
    model.eval()
    return model


def test_a_full_permutation_and_pairs_flip_the_same_way(flip_model):
    np.testing.assert_array_equal(flip_model.flip_index, [0, 2, 1, 3])
    np.testing.assert_array_equal(joint_permutation([0, 2, 1, 3], 4), [0, 2, 1, 3])
    np.testing.assert_array_equal(joint_permutation(COCO_FLIP, 17),
                                  joint_permutation([[2 * i + 1, 2 * i + 2] for i in range(8)], 17))
    np.testing.assert_array_equal(joint_permutation([], 3), [0, 1, 2])


@pytest.mark.parametrize('flip_perm', [[0, 1, 1, 3], [0, 2, 1], [[1, 4]]])
def test_bad_flip_perm_is_rejected(flip_perm):
    with pytest.raises(ValueError):
        joint_permutation(flip_perm, 4)


def test_export_entry_points(flip_model):
    specs = flip_model.export_input_spec()
    assert [list(s.shape) for s in specs] == [[-1, 3, -1, -1]]
    assert specs[0].name == 'image'
    assert list(flip_model.export_input_spec([3, 256, 320])[0].shape) == [-1, 3, 256, 320]
    with pytest.raises(ValueError):
        flip_model.export_input_spec([256, 320])
    image = _image(height=64, width=64, seed=4)
    with paddle.no_grad():
        exported = flip_model.export_forward(image)
        plain = flip_model.predict_outputs(image)
    assert [t.shape for t in exported] == [[1, 4, 32, 32], [1, 4, 32, 32]]
    for a, b in zip(exported, plain):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_exported_graph_runs_in_paddle_inference(tmp_path):
    paddle.seed(2)
    model = HigherHRNet(TinyBackbone(8), HrHRNetHead(3, width=8, loss=StandInLoss()),
                        eval_flip=False)
    export_model(model, {'arch': 'HigherHRNet'}, [3, -1, -1], str(tmp_path))
    config = paddle.inference.Config(str(tmp_path / 'model.json'),
                                     str(tmp_path / 'model.pdiparams'))
    config.disable_gpu()
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(1)
    predictor = paddle.inference.create_predictor(config)
    image = _image(height=40, width=56, seed=5)
    predictor.get_input_handle(predictor.get_input_names()[0]).copy_from_cpu(image.numpy())
    predictor.run()
    outputs = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
    with paddle.no_grad():
        expected = [t.numpy() for t in model.predict_outputs(image)]
    assert [o.shape for o in outputs] == [(1, 3, 20, 28), (1, 3, 20, 28)]
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_rejects_mismatched_parts():
    backbone = HRNet(width=18, freeze_at=-1, freeze_norm=False, return_idx=[0])
    with pytest.raises(ValueError, match='width is 32'):
        HigherHRNet(backbone, HrHRNetHead(4, width=32, loss=StandInLoss()), eval_flip=False)
    head = HrHRNetHead(4, width=18, loss=StandInLoss())
    with pytest.raises(ValueError, match='flip_perm is not set'):
        HigherHRNet(backbone, head, eval_flip=True)
    with pytest.raises(TypeError, match='built layer'):
        HigherHRNet('HRNet', head, eval_flip=False)


def test_built_from_config_with_shared_flip_perm():
    cfg = {'num_joints': 4, 'flip_perm': [[1, 2]],
           'HRNet': {'width': 18, 'freeze_at': -1, 'freeze_norm': False, 'return_idx': [0]},
           'HrHRNetHead': {'width': 18, 'loss': StandInLoss()},
           'HigherHRNet': {'max_num_people': 20}}
    model = create('HigherHRNet', cfg)
    assert model.eval_flip and model.max_num_people == 20
    np.testing.assert_array_equal(model.flip_index, [0, 2, 1, 3])
    assert model.hrhrnet_head.num_joints == 4
    with_perm = create('HigherHRNet', {**cfg, 'HigherHRNet': {'flip_perm': [0, 2, 1, 3]}})
    np.testing.assert_array_equal(with_perm.flip_index, [0, 2, 1, 3])
