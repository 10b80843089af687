"""Tests for ppkpt.engine.ema.ModelEMA."""
import numpy as np
import paddle
import pytest

from ppkpt.engine.ema import ModelEMA


class TinyNet(paddle.nn.Layer):
    """Conv + BatchNorm, so the state has parameters and running statistics."""

    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.bn = paddle.nn.BatchNorm2D(4)

    def forward(self, x):
        return self.bn(self.conv(x))


def _net(seed=0):
    paddle.seed(seed)
    return TinyNet()


def _fill(model, value):
    model.set_state_dict({k: paddle.full_like(v, value) for k, v in model.state_dict().items()})


def test_threshold_decay_schedule():
    ema = ModelEMA(_net(), decay=0.9, ema_decay_type='threshold')
    decays = []
    for _ in range(100):
        decays.append(ema.current_decay())
        ema.step += 1
    assert decays[0] == pytest.approx(0.1)
    assert decays[5] == pytest.approx(6 / 15)
    assert decays[-1] == pytest.approx(0.9)
    assert ModelEMA(_net(), decay=0.5, ema_decay_type='normal').current_decay() == 0.5


def test_update_blends_params_and_bn_statistics():
    model = _net()
    ema = ModelEMA(model, decay=0.5, ema_decay_type='normal')
    start = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    _fill(model, 2.0)
    ema.update(model)
    for key, value in ema.apply().items():
        np.testing.assert_allclose(value.numpy(), 0.5 * start[key] + 1.0, rtol=1e-6, err_msg=key)
    assert {'bn._mean', 'bn._variance', 'conv.weight'} <= set(ema.apply())


def test_ema_converges_to_constant_weights():
    model = _net()
    ema = ModelEMA(model, decay=0.9)
    _fill(model, 1.5)
    for _ in range(200):
        ema.update(model)
    for key, value in ema.apply().items():
        np.testing.assert_allclose(value.numpy(), 1.5, atol=1e-6, err_msg=key)


def _train_steps(model, ema, steps, seed):
    """Real training steps (SGD on random data) with an EMA update after each."""
    opt = paddle.optimizer.SGD(learning_rate=0.1, parameters=model.parameters())
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = paddle.to_tensor(rng.standard_normal((2, 3, 5, 5)).astype('float32'))
        model(x).square().mean().backward()
        opt.step()
        opt.clear_grad()
        ema.update(model)


def test_resume_from_state_is_exact(tmp_path):
    model = _net()
    ema = ModelEMA(model, decay=0.99)
    _train_steps(model, ema, 3, seed=1)
    paddle.save({'ema': ema.state_dict(), 'model': model.state_dict()}, str(tmp_path / 's.pdopt'))
    _train_steps(model, ema, 3, seed=2)

    saved = paddle.load(str(tmp_path / 's.pdopt'))
    model2 = _net(seed=5)
    model2.set_state_dict(saved['model'])
    ema2 = ModelEMA(model2, decay=0.99)
    ema2.set_state_dict(saved['ema'])
    assert ema2.step == 3
    _train_steps(model2, ema2, 3, seed=2)
    for key, value in ema.apply().items():
        np.testing.assert_array_equal(ema2.apply()[key].numpy(), value.numpy(), err_msg=key)


def test_cycle_epoch_restarts_average():
    model = _net()
    ema = ModelEMA(model, decay=0.9, cycle_epoch=2)
    _fill(model, 3.0)
    ema.update(model)
    ema.end_epoch(model)
    assert ema.step == 1
    ema.end_epoch(model)
    assert ema.step == 0
    np.testing.assert_array_equal(ema.apply()['conv.weight'].numpy(), 3.0)


def test_errors():
    with pytest.raises(ValueError, match='ema_decay_type'):
        ModelEMA(_net(), ema_decay_type='linear')
    ema = ModelEMA(_net())
    with pytest.raises(KeyError, match='missing'):
        ema.set_state_dict({'state': {}, 'step': 0, 'epoch': 0})
    with pytest.raises(KeyError, match="no 'step'"):
        ema.set_state_dict({'state': {}})
    with pytest.raises(KeyError, match='different model'):
        ema.update(paddle.nn.Linear(2, 2))
