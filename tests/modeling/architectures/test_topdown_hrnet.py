import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from ppkpt.codecs.heatmap import HeatmapCodec, flip_back
from ppkpt.core.workspace import ConfigError, create
from ppkpt.modeling.architectures.topdown_hrnet import TopDownHRNet
from ppkpt.modeling.backbones.hrnet import HRNet
from ppkpt.modeling.heads.topdown_heatmap_head import TopDownHeatmapHead
from ppkpt.modeling.losses.keypoint_mse import KeyPointMSELoss
from ppdet_fixture import read_keys, state_entries

def _codec(input_size=(48, 64), heatmap_size=(12, 16), **kwargs):
    return HeatmapCodec(list(input_size), list(heatmap_size), **kwargs)


def _head(channels, num_joints, codec=None, flip_perm=(), flip_test=True):
    flip_perm = None if flip_perm is None else [list(p) for p in flip_perm]
    return TopDownHeatmapHead(channels, num_joints, codec or _codec(), KeyPointMSELoss(),
                              flip_perm, flip_test)


def _ppdet_model(width, num_joints):
    backbone = HRNet(width=width, freeze_at=-1, freeze_norm=False, return_idx=[0])
    return TopDownHRNet(backbone, _head(width, num_joints, _codec((192, 256), (48, 64))))


def _tiny_model(num_joints=4, flip_perm=(), flip_test=True, codec=None):
    paddle.seed(0)
    backbone = HRNet(width=18, freeze_at=-1, freeze_norm=False, return_idx=[0])
    return TopDownHRNet(backbone, _head(18, num_joints, codec, flip_perm, flip_test))


def _image(batch=2, height=64, width=48, seed=0):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.normal(size=(batch, 3, height, width)).astype('float32'))


@pytest.mark.parametrize('stem, width, num_joints', [
    ('hrnet_w32_256x192', 32, 17),
    ('hrnet_w32_256x256_mpii', 32, 16),
    ('dark_hrnet_w48_256x192', 48, 17),
])
def test_state_dict_matches_paddledetection(stem, width, num_joints):
    header, expected = read_keys(stem)
    model = _ppdet_model(width, num_joints)
    assert state_entries(model) == expected
    params = model.parameters()
    assert sum(int(np.prod(p.shape)) for p in params) == int(header['total_numel'])
    assert sum(int(np.prod(p.shape)) for p in params
               if not p.stop_gradient) == int(header['trainable_numel'])


def test_backbone_state_dict_matches_higherhrnet_backbone():
    _, expected = read_keys('higherhrnet_hrnet_w32_512')
    expected = [(n[len('backbone.'):], s, d) for n, s, d in expected if n.startswith('backbone.')]
    backbone = HRNet(width=32, freeze_at=-1, freeze_norm=False, return_idx=[0])
    assert state_entries(backbone) == expected


def test_state_dict_from_key_list_loads_strictly():
    _, entries = read_keys('hrnet_w32_256x256_mpii')
    rng = np.random.default_rng(3)
    state = {name: rng.normal(size=shape).astype(dtype) for name, shape, dtype in entries}
    model = _ppdet_model(32, 16)
    missing, unexpected = model.set_state_dict(state)
    assert missing == [] and unexpected == []
    loaded = model.state_dict()
    for name in ('backbone.conv_layer1_1.conv.weight',
                 'backbone.st4.stage_st4_3.fuse_func.residual_st4_3_layer_1_4.norm._variance',
                 'final_conv.bias'):
        np.testing.assert_array_equal(loaded[name].numpy(), state[name])


def test_predict_heatmaps_shape():
    model = _tiny_model(num_joints=5)
    model.eval()
    heatmaps = model.predict_heatmaps(_image())
    assert heatmaps.shape == [2, 5, 16, 12]


def test_head_channels_must_match_backbone():
    with pytest.raises(ValueError, match="in_channels is 32 but the backbone's first output has "
                                         "18"):
        TopDownHRNet(HRNet(width=18, return_idx=[0]), _head(32, 4))


def test_flip_test_without_flip_perm_raises():
    with pytest.raises(ValueError, match='flip_perm is not set'):
        _tiny_model(flip_perm=None)
    model = _tiny_model(flip_perm=None, flip_test=False)
    assert not model.head.flip_test


def test_bad_flip_perm_raises():
    with pytest.raises(ValueError, match=r'flip_pairs\[0\] = \[0, 9\]'):
        _tiny_model(num_joints=4, flip_perm=[[0, 9]])


def test_backbone_name_without_create_raises():
    with pytest.raises(TypeError, match='must be a built layer'):
        TopDownHRNet('HRNet', _head(18, 4))


def test_merge_flip_matches_numpy_flip_back_and_the_codec_shift():
    heatmaps = np.random.default_rng(1).normal(size=(2, 4, 5, 6)).astype('float32')
    reference = flip_back(heatmaps, [[0, 3]])
    zeros = np.zeros((2, 4, 5, 6), np.float32)

    def mirrored_back(alignment):
        head = _head(18, 4, _codec(flip_alignment=alignment), flip_perm=[[0, 3]])
        return head.merge_flip(zeros, heatmaps) * 2.0

    np.testing.assert_allclose(mirrored_back('none'), reference, atol=1e-6)
    shifted = mirrored_back('pixel')
    np.testing.assert_allclose(shifted[..., 1:], reference[..., :-1], atol=1e-6)
    np.testing.assert_allclose(shifted[..., 0], reference[..., 0], atol=1e-6)
    exact = mirrored_back('exact')  # stride 4: 0.75 px, a blend of no shift and one pixel
    np.testing.assert_allclose(exact, 0.25 * reference + 0.75 * shifted, atol=1e-5)
    udp = _head(18, 4, _codec(target_type='udp'), flip_perm=[[0, 3]])
    np.testing.assert_allclose(udp.merge_flip(zeros, heatmaps) * 2, reference, atol=1e-6)


class _PoolBackbone(nn.Layer):
    """Stride-4 average pool of the image: the heatmaps are the image's channels, downscaled."""

    def forward(self, image):
        return [F.avg_pool2d(image, kernel_size=4, stride=4)]


def _pool_model(flip_test=True, flip_perm=(), pixel_std=200.0, **codec_kwargs):
    codec = _codec(use_dark=False, **codec_kwargs)
    model = TopDownHRNet(_PoolBackbone(), _head(3, 3, codec, flip_perm, flip_test),
                         pixel_std=pixel_std)
    model.final_conv.weight.set_value(np.eye(3, dtype='float32').reshape([3, 3, 1, 1]))
    model.final_conv.bias.set_value(np.zeros([3], dtype='float32'))
    model.eval()
    return model


def _peak_batch(channel):
    """A 64x48 image whose ``channel`` pools to 1 at heatmap pixel (x=5, y=3), else 0."""
    image = np.zeros((1, 3, 64, 48), dtype='float32')
    image[0, channel, 12:16, 20:24] = 1.0
    # The box is 24 x 32 px around (100, 200): 2 image pixels per heatmap pixel.
    return {'image': paddle.to_tensor(image),
            'center': paddle.to_tensor([[100.0, 200.0]]),
            'scale': paddle.to_tensor([[24.0 / 200.0, 32.0 / 200.0]])}


def test_eval_maps_peak_back_to_image_pixels():
    out = _pool_model(flip_test=False)(_peak_batch(channel=0))
    assert out['keypoint'].shape == (1, 3, 3)
    np.testing.assert_allclose(out['keypoint'][0, 0], [100 - 12 + 5 * 2, 200 - 16 + 3 * 2, 1.0],
                               atol=1e-4)
    np.testing.assert_allclose(out['score'], out['keypoint'][:, :, 2].mean(axis=1))


def test_eval_uses_udp_inverse_and_pixel_std_when_set():
    udp = _pool_model(flip_test=False, target_type='udp')(_peak_batch(channel=0))
    # UDP spaces the 12 x 16 heatmap pixels over the box edges: 24 / 11 and 32 / 15 px apart
    np.testing.assert_allclose(udp['keypoint'][0, 0, :2], [88 + 5 * 24 / 11, 184 + 3 * 32 / 15],
                               atol=1e-4)
    batch = _peak_batch(channel=0)
    batch['scale'] = batch['scale'] * 2.0
    half_std = _pool_model(flip_test=False, pixel_std=100.0)(batch)
    np.testing.assert_allclose(half_std['keypoint'][0, 0], [98.0, 190.0, 1.0], atol=1e-4)


def test_flip_test_swaps_pairs_and_shifts():
    plain = _pool_model(flip_perm=[[1, 2]], flip_alignment='none')(_peak_batch(channel=1))
    np.testing.assert_allclose(plain['keypoint'][0, 1], [98.0, 190.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(plain['keypoint'][0, 2], [98.0, 190.0, 0.5], atol=1e-4)
    shifted = _pool_model(flip_perm=[[1, 2]], flip_alignment='pixel')(_peak_batch(channel=1))
    np.testing.assert_allclose(shifted['keypoint'][0, 1], [98.0, 190.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(shifted['keypoint'][0, 2], [100.0, 190.0, 0.5], atol=1e-4)


def test_eval_with_empty_flip_perm_on_hrnet():
    model = _tiny_model(num_joints=3, flip_perm=[], flip_test=True)
    model.eval()
    batch = {'image': _image(), 'center': paddle.to_tensor([[50.0, 60.0], [10.0, 20.0]]),
             'scale': paddle.to_tensor([[0.3, 0.4], [0.6, 0.8]])}
    with paddle.no_grad():
        out = model(batch)
        heatmaps = model.predict_heatmaps(batch['image'])
        flipped = model.predict_heatmaps(paddle.flip(batch['image'], axis=[3]))
    assert out['keypoint'].shape == (2, 3, 3) and out['score'].shape == (2,)
    assert np.all(np.isfinite(out['keypoint']))
    averaged = model.head.merge_flip(heatmaps.numpy(), flipped.numpy())
    _, maxvals = HeatmapCodec([48, 64], [12, 16], use_dark=True).decode(averaged)
    np.testing.assert_allclose(out['keypoint'][..., 2], maxvals, rtol=1e-5, atol=1e-6)


def test_eval_needs_center_and_scale():
    model = _tiny_model()
    model.eval()
    with pytest.raises(KeyError, match=r"inputs\['center'\]"):
        model({'image': _image(batch=1)})


def _targets(num_joints, batch):
    codec = HeatmapCodec([48, 64], [12, 16], sigma=2.0)
    rng = np.random.default_rng(5)
    pairs = [codec.encode(rng.uniform([4, 4], [44, 60], size=(num_joints, 2)),
                          np.ones(num_joints)) for _ in range(batch)]
    return {key: paddle.to_tensor(np.stack([p[key] for p in pairs]))
            for key in ('target', 'target_weight')}


def test_training_returns_loss_and_loss_decreases():
    model = _tiny_model(num_joints=3)
    model.train()
    batch = {'image': _image(), **_targets(3, 2)}
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters())
    losses = []
    for _ in range(6):
        out = model(batch)
        assert set(out) == {'loss'}
        out['loss'].backward()
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(out['loss']))
    assert losses[-1] < 0.5 * losses[0]


def test_training_rejects_heatmaps_of_another_size_than_the_codec():
    model = TopDownHRNet(HRNet(width=18, return_idx=[0]), _head(18, 3, _codec((48, 64), (24, 32))))
    model.train()
    with pytest.raises(ValueError, match=r"outputs 12x16 heatmaps but the codec's heatmap_size "
                                         r"is \[24, 32\]"):
        model({'image': _image(), **_targets(3, 2)})


def _config():
    return {'num_joints': 5, 'flip_perm': [[0, 1], [3, 4]], 'trainsize': [48, 64],
            'hmsize': [12, 16], 'codec': HeatmapCodec([48, 64], [12, 16], target_type='dark'),
            'TopDownHRNet': {'backbone': 'HRNet', 'head': 'TopDownHeatmapHead'},
            'TopDownHeatmapHead': {'in_channels': 18, 'loss': 'KeyPointMSELoss'},
            'HRNet': {'width': 18, 'freeze_at': -1, 'freeze_norm': False, 'return_idx': [0]},
            'KeyPointMSELoss': {'loss_scale': 1.0}}


def test_created_from_config_with_shared_keys_and_the_one_codec():
    model = create('TopDownHRNet', _config())
    assert isinstance(model.backbone, HRNet) and model.head.loss.loss_scale == 1.0
    assert model.final_conv is model.head and model.head.weight.shape == [5, 18, 1, 1]
    assert model.head.flip_index.tolist() == [1, 0, 2, 4, 3]
    assert model.head.codec.target_type == 'dark'
    assert [k for k in model.state_dict() if not k.startswith('backbone.')] == [
        'final_conv.weight', 'final_conv.bias']


def test_codec_cannot_be_set_in_a_section_and_old_keys_point_to_their_new_place():
    cfg = _config()
    cfg['TopDownHeatmapHead']['codec'] = HeatmapCodec([48, 64], [12, 16], target_type='udp')
    with pytest.raises(ConfigError, match='`codec` is set once, at the top level'):
        create('TopDownHRNet', cfg)
    cfg = _config()
    cfg['TopDownHRNet']['use_dark'] = False
    with pytest.raises(ConfigError, match='now set as `codec.use_dark`'):
        create('TopDownHRNet', cfg)


class _ExportWrapper(nn.Layer):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return self.model.export_forward(image)


def test_export_input_spec():
    (spec,) = _tiny_model().export_input_spec([3, 64, 48])
    assert spec.name == 'image' and list(spec.shape) == [-1, 3, 64, 48]
    assert spec.dtype == paddle.float32
    with pytest.raises(ValueError, match=r'image_shape \[3, H, W\]'):
        _tiny_model().export_input_spec([64, 48])


def test_export_loads_and_runs_in_onednn_predictor(tmp_path):
    model = _tiny_model(num_joints=4)
    model.eval()
    image = _image(batch=2)
    with paddle.no_grad():
        expected = model.predict_heatmaps(image).numpy()
    static = paddle.jit.to_static(_ExportWrapper(model),
                                  input_spec=model.export_input_spec([3, 64, 48]),
                                  full_graph=True)
    paddle.jit.save(static, str(tmp_path / 'model'))
    program = tmp_path / 'model.json'
    assert b'nearest_interp' not in program.read_bytes()

    loaded = paddle.jit.load(str(tmp_path / 'model'))
    loaded.eval()
    np.testing.assert_allclose(loaded(image).numpy(), expected, atol=1e-5, rtol=0)

    config = paddle.inference.Config(str(program), str(tmp_path / 'model.pdiparams'))
    config.disable_glog_info()
    assert config.onednn_enabled()
    predictor = paddle.inference.create_predictor(config)
    assert predictor.get_input_names() == ['image']
    predictor.get_input_handle('image').copy_from_cpu(image.numpy())
    predictor.run()
    out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)
