"""LiteHRNet: PaddleDetection's state_dict and numerics, the five configs, shapes, freezing, export.

The numeric fixtures (tests/data/ppdet_numeric/<stem>, see MANIFEST.md) ship meta.json and every
third row and column of PaddleDetection's heatmaps. Their weights.pdparams (5 MB each) and
input.npy are redrawn from the recipe in meta.json (tests/ppdet_fixture.py) and checked against
digests of the original files.
"""
from pathlib import Path

import numpy as np
import paddle
import pytest

from ppkpt.apis import init_model
from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.core.workspace import build_ops, create, load_config
from ppkpt.data.transforms.occlusion import AugmentationbyInformantionDropping
from ppkpt.modeling.architectures.topdown_hrnet import TopDownHRNet
from ppkpt.modeling.backbones.lite_hrnet import LITE_HRNET_TYPES, LiteHRNet
from ppkpt.modeling.backbones.lite_hrnet_blocks import resize_bilinear_corners
from ppkpt.modeling.heads.topdown_heatmap_head import TopDownHeatmapHead
from ppkpt.modeling.layers import FeatureSpec
from ppkpt.modeling.losses.keypoint_mse import KeyPointMSELoss

from helpers import ROOT
from ppdet_fixture import (NUMERIC_DIR, npy_sha256, read_keys, read_meta, recipe_input,
                           recipe_weights, state_digest, state_entries)

# config -> the recorded PaddleDetection state_dict it must reproduce. tinypose_256x192 has no
# key file of its own: it is the same network as tinypose_128x96 (the state_dict does not
# depend on the input size).
CONFIG_KEYS = {
    'lite_hrnet/lite_hrnet_18_256x192_coco': 'lite_hrnet_18_256x192_coco',
    'lite_hrnet/lite_hrnet_30_256x192_coco': 'lite_hrnet_30_256x192_coco',
    'lite_hrnet/wider_naive_hrnet_18_256x192_coco': 'wider_naive_hrnet_18_256x192_coco',
    'tiny_pose/tinypose_128x96': 'tinypose_128x96',
    'tiny_pose/tinypose_256x192': 'tinypose_128x96',
}
# sha256 over (name + b'\0' + float32 bytes) of every entry of each fixture's weights.pdparams,
# in its order, computed from the original files (wider_naive and tinypose share their weights).
WEIGHTS_DIGESTS = {
    'lite_hrnet_18_256x192_coco':
        '9e317f7b7ea1b00d74f06c0a102a6157d728dd9101b4172f8e74bdfacbf27cc3',
    'wider_naive_hrnet_18_256x192_coco':
        'd94ff6cf3c8c1206979cd5f0912164259c33aef33be3ad74c3b7dbf74695f191',
    'tinypose_128x96': 'd94ff6cf3c8c1206979cd5f0912164259c33aef33be3ad74c3b7dbf74695f191',
}
CONFIG_AP = {'lite_hrnet/lite_hrnet_18_256x192_coco': '66.5',
             'lite_hrnet/lite_hrnet_30_256x192_coco': '69.4',
             'lite_hrnet/wider_naive_hrnet_18_256x192_coco': '67.6',
             'tiny_pose/tinypose_128x96': '58.1', 'tiny_pose/tinypose_256x192': '68.8'}


def _config_path(name):
    return f'{ROOT}/configs/keypoint/{name}.yml'


def _image(batch=1, height=64, width=64, seed=0):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.normal(size=(batch, 3, height, width)).astype('float32'))


def _backbone(network_type='wider_naive', **kwargs):
    paddle.seed(0)
    args = dict(freeze_at=-1, freeze_norm=False, return_idx=[0])
    args.update(kwargs)
    return LiteHRNet(network_type, **args)


@pytest.mark.parametrize('config', sorted(CONFIG_KEYS))
def test_config_builds_paddledetection_state_dict(config):
    cfg = load_config(_config_path(config))
    model = create(cfg['architecture'], cfg)
    header, expected = read_keys(CONFIG_KEYS[config])
    assert state_entries(model) == expected
    params = model.parameters()
    assert sum(int(np.prod(p.shape)) for p in params) == int(header['total_numel'])
    assert sum(int(np.prod(p.shape)) for p in params
               if not p.stop_gradient) == int(header['trainable_numel'])
    assert model.backbone.out_shape == [FeatureSpec(40, 4)]


@pytest.mark.parametrize('config', sorted(CONFIG_KEYS))
def test_config_carries_the_published_recipe(config):
    cfg = load_config(_config_path(config))
    head = create(cfg['architecture'], cfg).head
    assert f'reports {CONFIG_AP[config]} AP' in Path(_config_path(config)).read_text()
    assert cfg['keypoint_preset'] == 'coco17' and head.loss.loss_scale == 1.0
    ops = build_ops(cfg['TrainReader']['sample_transforms'], 'TrainReader.sample_transforms',
                    cfg)
    names = [type(op).__name__ for op in ops]
    half_body = ops[0]
    assert (half_body.scale, half_body.rot, half_body.prob_half_body) == (0.25, 30, 0.3)
    assert half_body.flip and half_body.flip_pairs == cfg['flip_perm']
    schedulers = cfg['LearningRate']['schedulers']
    milestones = schedulers[0].kwargs['milestones']
    codec = head.codec
    if config.startswith('tiny_pose'):
        assert names == ['RandomFlipHalfBodyTransform', 'TopDownAffine',
                         'AugmentationbyInformantionDropping', 'GenerateTarget']
        aid = ops[2]
        assert isinstance(aid, AugmentationbyInformantionDropping)
        assert (aid.prob_cutout, aid.offset_factor, aid.num_patch) == (0.5, 0.05, 1)
        assert aid.crop_size == list(codec.input_size)
        assert (codec.target_type, codec.use_dark, codec.flip_shift) == ('udp', True, 0.0)
        assert (cfg['epoch'], milestones) == (420, [380, 410])
        small = config.endswith('128x96')
        assert codec.sigma == (1.0 if small else 2.0)
        assert cfg['LearningRate']['base_lr'] == (0.008 if small else 0.002)
        assert cfg['TrainReader']['batch_size'] == (512 if small else 128)
        assert cfg['EvalDataset'].kwargs['image_thre'] == 0.5
    else:
        assert names == ['RandomFlipHalfBodyTransform', 'TopDownAffine', 'GenerateTarget']
        assert (codec.target_type, codec.use_dark, codec.sigma) == ('gaussian', False, 2.0)
        assert codec.flip_shift == 1.0                  # PaddleDetection's shift_heatmap
        assert (cfg['epoch'], milestones, cfg['LearningRate']['base_lr']) == (210, [170, 200],
                                                                              0.002)
    assert schedulers[1].kwargs == {'start_factor': 0.001, 'steps': 500}
    assert list(codec.input_size) == cfg['TestReader']['inputs_def']['image_shape'][:0:-1]


@pytest.mark.parametrize('stem', sorted(WEIGHTS_DIGESTS))
def test_numeric_parity_with_paddledetection(stem, tmp_path):
    meta = read_meta(stem)
    image = recipe_input(*[meta['input_shape'][i] for i in (0, 2, 3)])
    assert npy_sha256(image) == meta['files_sha256']['input.npy']
    cfg = load_config(f'{ROOT}/{meta["config"]}', {'pretrain_weights': '', 'weights': ''})
    assert {'norm_decay': 0.0, **cfg['LiteHRNet']} == meta['backbone_args']
    state = recipe_weights(create(cfg['architecture'], cfg), meta['conv_gain'])
    assert state_digest(state) == WEIGHTS_DIGESTS[stem]
    paddle.save({k: paddle.to_tensor(v) for k, v in state.items()}, str(tmp_path / 'w.pdparams'))
    model = init_model(cfg, str(tmp_path / 'w.pdparams'))
    with paddle.no_grad():
        heatmaps = model.predict_heatmaps(paddle.to_tensor(image)).numpy()
    reference = np.load(NUMERIC_DIR / stem / 'heatmaps_every3rd.npz')['heatmaps']
    assert list(heatmaps.shape) == meta['output_shape']
    assert np.abs(heatmaps[..., ::3, ::3] - reference).max() < 1e-5


@pytest.mark.parametrize('network_type', sorted(LITE_HRNET_TYPES))
def test_outputs_match_out_shape(network_type):
    backbone = _backbone(network_type, return_idx=[0, 1, 2, 3])
    backbone.eval()
    with paddle.no_grad():
        outputs = backbone({'image': _image(height=64, width=96)})
    width = 30 if network_type == 'naive' else 40
    assert backbone.out_shape == [FeatureSpec(width, 4), FeatureSpec(width, 8),
                                  FeatureSpec(2 * width, 16), FeatureSpec(4 * width, 32)]
    for out, spec in zip(outputs, backbone.out_shape):
        assert out.shape == [1, spec.channels, 64 // spec.stride, 96 // spec.stride]


def test_sizes_that_are_not_multiples_of_32_work():
    backbone = _backbone('lite_18', return_idx=[0, 3])
    backbone.eval()
    with paddle.no_grad():
        fine, coarse = backbone(_image(height=72, width=56))
    assert fine.shape == [1, 40, 18, 14] and coarse.shape == [1, 160, 3, 2]


def test_head_channels_must_match_the_backbone():
    codec = HeatmapCodec([64, 64], [16, 16])
    with pytest.raises(ValueError, match='has 30 channels'):
        TopDownHRNet(_backbone('naive'), TopDownHeatmapHead(40, 17, codec, KeyPointMSELoss(), []))


def test_training_reaches_the_stem_and_freeze_at_freezes_groups():
    backbone = _backbone('lite_18')
    backbone.train()
    backbone(_image(batch=2))[0].mean().backward()
    assert np.abs(backbone.stem.conv1.conv.weight.grad.numpy()).max() > 0
    frozen = _backbone('lite_18', freeze_at=1)
    assert all(p.stop_gradient for layer in (frozen.stem, frozen.transition0, frozen.stage0)
               for p in layer.parameters())
    trainable = [p for layer in (frozen.transition1, frozen.stage1, frozen.head_layer)
                 for name, p in layer.named_parameters()
                 if not name.endswith(('_mean', '_variance'))]
    assert trainable and not any(p.stop_gradient for p in trainable)


def test_freeze_norm_uses_stored_statistics_in_training():
    backbone = _backbone('wider_naive', freeze_norm=True)
    image = _image(batch=2, seed=1)
    backbone.eval()
    with paddle.no_grad():
        expected = backbone(image)[0].numpy()
    backbone.train()
    with paddle.no_grad():
        np.testing.assert_allclose(backbone(image)[0].numpy(), expected, atol=1e-6)
    norms = [layer for layer in backbone.sublayers() if isinstance(layer, paddle.nn.BatchNorm2D)]
    assert norms and all(p.stop_gradient for n in norms for p in n.parameters())


@pytest.mark.parametrize('kwargs, message', [
    ({'network_type': 'lite_19'}, 'network_type'),
    ({'network_type': 'lite_18', 'return_idx': [4]}, 'return_idx'),
    ({'network_type': 'lite_18', 'return_idx': []}, 'return_idx'),
    ({'network_type': 'lite_18', 'freeze_at': 4}, 'freeze_at'),
])
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LiteHRNet(**kwargs)


class _OneModulePerStage(paddle.nn.Layer):
    """LiteHRNet with one module per stage plus one NAIVE module: every kind of op the backbone
    exports, at a fraction of the full network's trace time."""

    def __init__(self):
        super().__init__()
        lite, naive = _backbone('lite_18'), _backbone('wider_naive')
        self.stem, self.head = lite.stem, lite.head_layer
        self.transitions = paddle.nn.LayerList([lite.transition0, lite.transition1,
                                                lite.transition2])
        self.stages = paddle.nn.LayerList([
            paddle.nn.Sequential(lite.stage0[0], naive.stage0[0]), lite.stage1[0],
            lite.stage2[0]])

    def forward(self, image):
        feats = [self.stem(image)]
        for transition, module in zip(self.transitions, self.stages):
            feats = [feats[min(i, len(feats) - 1)] if layer is None else
                     layer(feats[min(i, len(feats) - 1)]) for i, layer in enumerate(transition)]
            feats = module(feats)
        return self.head(feats)[0]


def _he_init(model: paddle.nn.Layer, seed: int) -> None:
    """He-normal conv weights, so the features keep their scale through the whole network
    (with the default small init the output is ~1e-18 and any export would "match")."""
    rng = np.random.default_rng(seed)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.Conv2D):
            shape = layer.weight.shape
            fan_in = shape[1] * shape[2] * shape[3]
            layer.weight.set_value(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype('float32'))


def test_export_runs_in_onednn_predictor(tmp_path):
    model = _OneModulePerStage()
    _he_init(model, seed=3)
    model.eval()
    image = _image(batch=2, height=64, width=48, seed=2)
    with paddle.no_grad():
        expected = model(image).numpy()
    assert np.abs(expected).max() > 0.1
    spec = [paddle.static.InputSpec([None, 3, 64, 48], 'float32', 'image')]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True),
                    str(tmp_path / 'model'))
    program = tmp_path / 'model.json'
    assert b'nearest_interp' not in program.read_bytes()
    assert b'bilinear_interp' not in program.read_bytes()
    config = paddle.inference.Config(str(program), str(tmp_path / 'model.pdiparams'))
    config.disable_glog_info()
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(1)
    predictor = paddle.inference.create_predictor(config)
    predictor.get_input_handle('image').copy_from_cpu(image.numpy())
    predictor.run()
    out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    np.testing.assert_allclose(out, expected, atol=1e-4 * np.abs(expected).max(), rtol=1e-4)


def test_export_needs_a_fixed_input_size():
    class Resize(paddle.nn.Layer):
        def forward(self, x):
            return resize_bilinear_corners(x[:, :, ::2, ::2], x)

    spec = [paddle.static.InputSpec([None, 2, -1, -1], 'float32', 'x')]
    static = paddle.jit.to_static(Resize(), input_spec=spec, full_graph=True)
    with pytest.raises(ValueError, match='fixed input size'):
        static.forward.concrete_program
