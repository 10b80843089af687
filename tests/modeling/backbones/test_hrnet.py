import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import create
from ppkpt.modeling.backbones.hrnet import HRNET_CHANNELS, HRNet
from ppkpt.modeling.layers import FeatureSpec


def _image(height=64, width=48, batch=2):
    rng = np.random.default_rng(0)
    return paddle.to_tensor(rng.normal(size=(batch, 3, height, width)).astype('float32'))


@pytest.fixture(scope='module')
def w18_all():
    paddle.seed(0)
    net = HRNet(width=18, freeze_at=-1, freeze_norm=False, return_idx=[0, 1, 2, 3])
    net.eval()
    return net


def test_four_outputs_shapes_and_out_shape(w18_all):
    feats = w18_all(_image(64, 64))
    assert [f.shape for f in feats] == [[2, 18, 16, 16], [2, 36, 8, 8], [2, 72, 4, 4],
                                        [2, 144, 2, 2]]
    assert w18_all.out_shape == [FeatureSpec(18, 4), FeatureSpec(36, 8), FeatureSpec(72, 16),
                                 FeatureSpec(144, 32)]


def test_dict_and_tensor_inputs_agree(w18_all):
    image = _image(64, 64, batch=1)
    with paddle.no_grad():
        from_dict = w18_all({'image': image})
        from_tensor = w18_all(image)
    for a, b in zip(from_dict, from_tensor):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_size_not_multiple_of_32_gives_ceil_sizes(w18_all):
    feats = w18_all(_image(64, 48, batch=1))
    assert [f.shape[2:] for f in feats] == [[16, 12], [8, 6], [4, 3], [2, 2]]


def test_single_return_idx_drops_coarse_fuse_outputs():
    single = HRNet(width=18, return_idx=[0])
    full = HRNet(width=18, return_idx=[0, 1, 2, 3])
    single_names = set(single.state_dict())
    full_names = set(full.state_dict())
    assert single_names < full_names
    dropped = full_names - single_names
    assert dropped and all(n.startswith('st4.stage_st4_3.fuse_func.residual_st4_3_layer_')
                           and not n.startswith('st4.stage_st4_3.fuse_func.residual_st4_3_layer_1_')
                           for n in dropped)
    assert single.out_shape == [FeatureSpec(18, 4)]


def test_return_idx_selects_branches():
    net = HRNet(width=18, return_idx=[1, 3])
    net.eval()
    feats = net(_image(64, 64, batch=1))
    assert [f.shape[1] for f in feats] == [36, 144]
    assert net.out_shape == [FeatureSpec(36, 8), FeatureSpec(144, 32)]


def test_upsample_concatenates_and_downsample_pools():
    net = HRNet(width=18, return_idx=[0], upsample=True)
    net.eval()
    (merged,) = net(_image(64, 64, batch=1))
    assert merged.shape == [1, 270, 16, 16]
    assert net.out_shape == [FeatureSpec(270, 4)]
    pyramid = HRNet(width=18, upsample=True, downsample=True)
    pyramid.eval()
    feats = pyramid(_image(64, 64, batch=1))
    assert [f.shape for f in feats] == [[1, 270, 16, 16], [1, 270, 8, 8], [1, 270, 4, 4],
                                        [1, 270, 2, 2]]
    assert [s.stride for s in pyramid.out_shape] == [4, 8, 16, 32]


@pytest.mark.parametrize('freeze_at, frozen_prefixes', [
    (-1, ()),
    (0, ('conv_layer1_', 'la1.')),
    (2, ('conv_layer1_', 'la1.', 'tr1.', 'st2.', 'tr2.', 'st3.')),
])
def test_freeze_at_stops_gradients_up_to_group(freeze_at, frozen_prefixes):
    net = HRNet(width=18, freeze_at=freeze_at, freeze_norm=False, return_idx=[0])
    for name, param in net.named_parameters():
        if name.endswith(('_mean', '_variance')):
            continue
        assert param.stop_gradient == name.startswith(frozen_prefixes), name


def test_freeze_norm_freezes_only_norm_parameters():
    net = HRNet(width=18, freeze_at=-1, freeze_norm=True, return_idx=[0])
    for name, param in net.named_parameters():
        assert param.stop_gradient == ('.norm.' in name), name


def test_gradients_reach_every_trainable_parameter():
    paddle.seed(0)
    net = HRNet(width=18, freeze_at=-1, freeze_norm=False, return_idx=[0, 1, 2, 3])
    feats = net(_image(64, 64, batch=2))
    paddle.add_n([f.mean() for f in feats]).backward()
    missing = [n for n, p in net.named_parameters() if not p.stop_gradient and p.grad is None]
    assert missing == []


@pytest.mark.parametrize('kwargs, message', [
    ({'width': 20}, 'HRNet.width must be one of'),
    ({'return_idx': []}, 'at least one branch'),
    ({'return_idx': [0, 4]}, r'return_idx\[1\] = 4'),
    ({'freeze_at': 4}, 'freeze_at must be in -1..3'),
    ({'downsample': True}, 'needs upsample'),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HRNet(**kwargs)


def test_channel_table():
    assert HRNET_CHANNELS[32] == [32, 64, 128, 256]
    assert HRNET_CHANNELS[48] == [48, 96, 192, 384]
    assert sorted(HRNET_CHANNELS) == [18, 30, 32, 40, 44, 48, 60, 64]


def test_created_from_config():
    cfg = {'HRNet': {'width': 18, 'freeze_at': -1, 'freeze_norm': False, 'return_idx': [0]}}
    net = create('HRNet', cfg)
    assert isinstance(net, HRNet)
    assert net.out_shape == [FeatureSpec(18, 4)]
