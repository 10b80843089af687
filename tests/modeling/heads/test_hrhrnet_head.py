from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
import pytest

from ppkpt.core.workspace import ConfigError, create
from ppkpt.modeling.heads.hrhrnet_head import HrHRNetHead, upsample_bilinear_2x

KEYS_FILE = (Path(__file__).resolve().parents[2] / 'data' / 'ppdet_keys'
             / 'higherhrnet_hrnet_w32_512.txt')


class RecordingLoss(nn.Layer):
    """Stand-in for HrHRNetLoss: keeps what it was given, returns the mean of the first map."""

    def forward(self, outputs, inputs):
        self.outputs, self.inputs = outputs, inputs
        first = outputs[0][0] if isinstance(outputs[0], list) else outputs[0]
        return {'loss': first.mean()}


def _head(num_joints=3, width=18, swahr=False):
    paddle.seed(0)
    return HrHRNetHead(num_joints, width=width, swahr=swahr, loss=RecordingLoss())


def _features(width=18, batch=2, height=8, wide=10, seed=0):
    rng = np.random.default_rng(seed)
    return [paddle.to_tensor(rng.normal(size=(batch, width, height, wide)).astype('float32'))]


def _entries(layer):
    return [(name, list(t.shape), str(t.dtype).replace('paddle.', ''))
            for name, t in layer.state_dict().items()]


def _ppdet_head_entries():
    entries = []
    for line in KEYS_FILE.read_text().splitlines()[1:]:
        name, shape, dtype = line.split('\t')
        if name.startswith('hrhrnet_head.'):
            entries.append((name[len('hrhrnet_head.'):], [int(v) for v in shape.split(',')],
                            dtype))
    return entries


def _upsample2x_reference(maps):
    """(N, C, h, w) -> (N, C, 2h, 2w): bilinear with half-pixel centres, edges clamped.

    Output 2i samples source i - 1/4 (3/4 of x[i], 1/4 of x[i-1]); 2i+1 samples i + 1/4.
    """
    for axis in (2, 3):
        n = maps.shape[axis]
        prev = np.take(maps, np.maximum(np.arange(n) - 1, 0), axis=axis)
        nxt = np.take(maps, np.minimum(np.arange(n) + 1, n - 1), axis=axis)
        even, odd = 0.75 * maps + 0.25 * prev, 0.75 * maps + 0.25 * nxt
        maps = np.stack([even, odd], axis=axis + 1).reshape(
            maps.shape[:axis] + (2 * n,) + maps.shape[axis + 1:])
    return maps


@pytest.mark.parametrize('height, width', [(7, 9), (1, 4), (16, 2)])
def test_upsample_matches_paddledetections_bilinear_upsample(height, width):
    maps = np.random.default_rng(height).normal(size=(2, 3, height, width)).astype('float32')
    expected = F.interpolate(paddle.to_tensor(maps), scale_factor=2, mode='bilinear',
                             align_corners=False, align_mode=0).numpy()
    got = upsample_bilinear_2x(paddle.to_tensor(maps)).numpy()
    assert got.shape == (2, 3, 2 * height, 2 * width)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got, _upsample2x_reference(maps), atol=1e-6)


def test_state_dict_matches_paddledetection_w32():
    assert _entries(HrHRNetHead(17, width=32, loss=RecordingLoss())) == _ppdet_head_entries()


def test_swahr_adds_the_two_scale_layers_after_the_blocks():
    names = [(n, s) for n, s, _ in _entries(_head(num_joints=5, width=18, swahr=True))]
    plain = [(n, s) for n, s, _ in _entries(_head(num_joints=5, width=18))]
    assert names[:len(plain)] == plain
    scale = [(n, s) for n, s in names[len(plain):] if n.startswith('scalelayer0.')]
    assert scale == [('scalelayer0.0.weight', [5, 18, 1, 1]), ('scalelayer0.0.bias', [5]),
                     ('scalelayer0.1.weight', [5]), ('scalelayer0.1.bias', [5]),
                     ('scalelayer0.1._mean', [5]), ('scalelayer0.1._variance', [5]),
                     ('scalelayer0.3.weight', [5, 1, 9, 9]), ('scalelayer0.3.bias', [5])]
    assert [n.replace('scalelayer1.', 'scalelayer0.') for n, _ in names[len(plain) + 8:]] == \
        [n for n, _ in scale]


def test_train_outputs_are_quarter_heatmaps_half_heatmaps_and_quarter_tags():
    head = _head(num_joints=3)
    head.train()
    features = _features()
    heatmaps, half, tags = head(features)
    assert heatmaps.shape == [2, 3, 8, 10]
    assert half.shape == [2, 3, 16, 20]
    assert tags.shape == [2, 3, 8, 10]
    quarter = head.conv1(features[0]).numpy()
    np.testing.assert_array_equal(heatmaps.numpy(), quarter[:, :3])
    np.testing.assert_array_equal(tags.numpy(), quarter[:, 3:])


def test_swahr_train_outputs_pair_each_heatmap_with_its_scale_map():
    head = _head(num_joints=3, swahr=True)
    head.train()
    (heatmaps, scales), (half, half_scales), tags = head(_features())
    assert heatmaps.shape == scales.shape == tags.shape == [2, 3, 8, 10]
    assert half.shape == half_scales.shape == [2, 3, 16, 20]


def test_eval_outputs_average_the_upsampled_quarter_heatmaps_with_the_half_ones():
    head = _head(num_joints=3)
    head.eval()
    features = _features(height=7, wide=9)
    heatmaps, tags = head(features)
    quarter, refined, half = (t.numpy() for t in head.raw_maps(features))
    upsampled = _upsample2x_reference(quarter)
    assert refined.shape == (2, 18, 14, 18)
    np.testing.assert_allclose(heatmaps.numpy(), (upsampled[:, :3] + half) / 2, atol=1e-6)
    np.testing.assert_allclose(tags.numpy(), upsampled[:, 3:], atol=1e-6)


def test_predict_gives_the_eval_maps_in_train_mode_too():
    head = _head(num_joints=3)
    head.train()
    heatmaps, tags = head.predict(_features())
    assert heatmaps.shape == tags.shape == [2, 3, 16, 20]


def test_built_from_config_with_shared_num_joints():
    cfg = {'num_joints': 5, 'HrHRNetHead': {'width': 18, 'loss': RecordingLoss()}}
    head = create('HrHRNetHead', cfg)
    assert (head.num_joints, head.width, head.swahr) == (5, 18, False)
    assert head.conv2.weight.shape == [5, 18, 1, 1]


@pytest.mark.parametrize('kwargs, error', [
    ({'num_joints': 3, 'loss': 'HrHRNetLoss'}, TypeError),
    ({'num_joints': 0, 'loss': RecordingLoss()}, ValueError),
    ({'num_joints': 3, 'width': 0, 'loss': RecordingLoss()}, ValueError),
])
def test_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        HrHRNetHead(**kwargs)


def test_config_type_errors_name_the_argument():
    cfg = {'num_joints': 5, 'HrHRNetHead': {'width': 'wide', 'loss': RecordingLoss()}}
    with pytest.raises(ConfigError, match='HrHRNetHead.width'):
        create('HrHRNetHead', cfg)


def test_output_convolutions_start_small_like_paddledetections():
    head = HrHRNetHead(17, width=18, loss=RecordingLoss())
    for layer in (head.conv1, head.conv2, head.deconv[0]):
        weight = layer.weight.numpy()
        assert weight.std() < 0.002 and abs(weight.mean()) < 0.001
    for layer in (head.conv1, head.conv2):
        assert not layer.bias.numpy().any()
