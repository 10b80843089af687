import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import create
from ppkpt.modeling.losses.keypoint_mse import KeyPointMSELoss


def _batch(seed=0, n=2, k=3, h=4, w=5):
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=(n, k, h, w)).astype('float32')
    target = rng.uniform(size=(n, k, h, w)).astype('float32')
    weight = np.array([[[1.0], [0.0], [1.0]], [[0.0], [1.0], [1.0]]], dtype='float32')
    return pred, target, weight


def _by_hand(pred, target, weight, scale):
    """Per joint: scale * mean over (N, H, W) of (w * pred - w * gt) ** 2; then mean over K."""
    per_joint = []
    for k in range(pred.shape[1]):
        wk = weight[:, k, 0][:, None, None]
        per_joint.append(scale * np.mean((pred[:, k] * wk - target[:, k] * wk) ** 2))
    return np.mean(per_joint)


@pytest.mark.parametrize('scale', [0.5, 1.0])
def test_loss_equals_hand_computation(scale):
    pred, target, weight = _batch()
    loss = KeyPointMSELoss(use_target_weight=True, loss_scale=scale)(
        paddle.to_tensor(pred), {'target': paddle.to_tensor(target),
                                 'target_weight': paddle.to_tensor(weight)})
    assert set(loss) == {'loss'}
    assert loss['loss'].shape == []
    np.testing.assert_allclose(float(loss['loss']), _by_hand(pred, target, weight, scale),
                               rtol=1e-6)


def test_without_target_weight_ignores_weights():
    pred, target, weight = _batch()
    loss = KeyPointMSELoss(use_target_weight=False)(
        paddle.to_tensor(pred), {'target': paddle.to_tensor(target)})
    expected = _by_hand(pred, target, np.ones_like(weight), 0.5)
    np.testing.assert_allclose(float(loss['loss']), expected, rtol=1e-6)


def test_zero_weight_joint_gets_no_gradient():
    pred, target, weight = _batch()
    heatmaps = paddle.to_tensor(pred, stop_gradient=False)
    loss = KeyPointMSELoss()(heatmaps, {'target': paddle.to_tensor(target),
                                        'target_weight': paddle.to_tensor(weight)})
    loss['loss'].backward()
    grad = heatmaps.grad.numpy()
    assert np.all(grad[0, 1] == 0) and np.all(grad[1, 0] == 0)
    assert np.any(grad[0, 0] != 0)


def test_missing_and_mismatched_inputs_raise():
    pred, target, weight = _batch()
    loss = KeyPointMSELoss()
    with pytest.raises(KeyError, match=r"inputs\['target_weight'\]"):
        loss(paddle.to_tensor(pred), {'target': paddle.to_tensor(target)})
    with pytest.raises(ValueError, match=r"inputs\['target'\] has shape \[2, 3, 4, 4\]"):
        loss(paddle.to_tensor(pred), {'target': paddle.to_tensor(target[..., :4]),
                                      'target_weight': paddle.to_tensor(weight)})


def test_created_from_config():
    loss = create('KeyPointMSELoss', {'KeyPointMSELoss': {'loss_scale': 1.0}})
    assert loss.loss_scale == 1.0 and loss.use_target_weight
