import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ppkpt.modeling.layers import ConvNormLayer, SELayer, crop_to, upsample_nearest


@pytest.mark.parametrize('factor', [1, 2, 4, 8])
def test_upsample_nearest_equals_nearest_interpolate(factor):
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 3, 3, 5)).astype('float32'))
    expected = F.interpolate(x, scale_factor=factor, mode='nearest')
    out = upsample_nearest(x, factor)
    assert out.shape == [2, 3, 3 * factor, 5 * factor]
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_crop_to_matches_nearest_interpolate_to_odd_size():
    x = paddle.to_tensor(np.arange(2 * 2, dtype='float32').reshape([1, 1, 2, 2]))
    ref = paddle.zeros([1, 1, 3, 3])
    expected = F.interpolate(x, size=[3, 3], mode='nearest')
    np.testing.assert_array_equal(crop_to(upsample_nearest(x, 2), ref).numpy(),
                                  expected.numpy())


def test_crop_to_keeps_matching_size():
    x = paddle.ones([1, 2, 4, 4])
    assert crop_to(x, paddle.zeros([1, 1, 4, 4])) is x


def test_conv_norm_layer_shapes_and_relu():
    layer = ConvNormLayer(3, 8, 3, stride=2, act='relu')
    out = layer(paddle.randn([2, 3, 9, 7]))
    assert out.shape == [2, 8, 5, 4]
    assert float(out.min()) >= 0.0
    assert [n for n, _ in layer.named_parameters()] == [
        'conv.weight', 'norm.weight', 'norm.bias', 'norm._mean', 'norm._variance']


def test_conv_norm_layer_rejects_unknown_activation():
    with pytest.raises(ValueError, match="act must be one of"):
        ConvNormLayer(3, 8, 3, act='gelu')


def test_frozen_norm_uses_stored_statistics_in_training():
    paddle.seed(1)
    layer = ConvNormLayer(3, 4, 1, freeze_norm=True)
    x = paddle.randn([4, 3, 5, 5]) * 3.0 + 1.0
    layer.eval()
    expected = layer(x).numpy()
    layer.train()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6, atol=1e-6)
    assert all(p.stop_gradient for p in layer.norm.parameters())
    assert not layer.conv.weight.stop_gradient


def test_norm_decay_sets_l2_regularizer():
    layer = ConvNormLayer(3, 4, 1, norm_decay=1e-4)
    assert layer.norm.weight.regularizer._coeff == pytest.approx(1e-4)
    assert layer.norm.bias.regularizer._coeff == pytest.approx(1e-4)


def test_se_layer_gates_channels():
    layer = SELayer(32)
    x = paddle.ones([2, 32, 3, 3])
    out = layer(x).numpy()
    assert out.shape == (2, 32, 3, 3)
    assert np.all((out > 0) & (out < 1))
    np.testing.assert_allclose(out[:, :, 0, 0], out[:, :, 2, 1])


def test_upsample_nearest_gradient_and_unknown_sizes_match_interpolate():
    data = np.random.default_rng(1).normal(size=(2, 3, 3, 5)).astype('float32')
    x, y = paddle.to_tensor(data, stop_gradient=False), paddle.to_tensor(data, stop_gradient=False)
    weight = paddle.to_tensor(np.random.default_rng(2).normal(size=(2, 3, 6, 10)).astype('float32'))
    (upsample_nearest(x, 2) * weight).sum().backward()
    (F.interpolate(y, scale_factor=2, mode='nearest') * weight).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-6)
    traced = paddle.jit.to_static(_upsample_by_4, full_graph=True,
                                  input_spec=[paddle.static.InputSpec([None, 3, None, None])])
    np.testing.assert_array_equal(traced(paddle.to_tensor(data)).numpy(),
                                  np.repeat(np.repeat(data, 4, axis=2), 4, axis=3))


def _upsample_by_4(x: paddle.Tensor) -> paddle.Tensor:
    return upsample_nearest(x, 4)
