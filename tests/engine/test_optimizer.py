"""Tests for ppkpt.engine.optimizer: LR values at exact iterations and optimiser building."""
import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import create, load_yaml
from ppkpt.engine.optimizer import (CosineDecay, LearningRate, LinearWarmup, OptimizerBuilder,
                                    PiecewiseDecay)


def lr_trace(scheduler, steps):
    """Rates seen by iterations 0..steps-1 when the scheduler steps after every iteration."""
    values = []
    for _ in range(steps):
        values.append(scheduler())
        scheduler.step()
    return values


def test_piecewise_with_warmup_matches_paddledetection_yaml():
    cfg = load_yaml("""
LearningRate:
  base_lr: 0.5
  schedulers:
    - !PiecewiseDecay {milestones: [2, 4], gamma: 0.1}
    - !LinearWarmup {start_factor: 0.001, steps: 5}
""")
    scheduler = create('LearningRate', cfg)(10)
    lrs = lr_trace(scheduler, 45)
    assert lrs[0] == pytest.approx(0.5 * 0.001)
    assert lrs[3] == pytest.approx(0.5 * (0.001 * 0.4 + 0.6))
    assert lrs[4] < lrs[5] == pytest.approx(0.5)
    assert lrs[19] == pytest.approx(0.5)
    assert lrs[20] == pytest.approx(0.05)
    assert lrs[39] == pytest.approx(0.05)
    assert lrs[40] == pytest.approx(0.005)
    assert lrs[44] == pytest.approx(0.005)


def test_scalar_gamma_compounds_and_list_gamma_is_relative_to_base():
    assert PiecewiseDecay(gamma=0.5, milestones=[1, 2, 3]).factors == [0.5, 0.25, 0.125]
    lr = LearningRate(1.0, [PiecewiseDecay(gamma=[0.2, 0.05], milestones=[1, 2])])
    assert [lr.lr_at(s, 4) for s in (3, 4, 8)] == pytest.approx([1.0, 0.2, 0.05])


def test_piecewise_values_and_disabled_warmup():
    lr = LearningRate(9.0, [LinearWarmup(steps=100, start_factor=0.1),
                            PiecewiseDecay(milestones=[1], values=[0.3, 0.03], use_warmup=False)])
    assert [lr.lr_at(s, 5) for s in (0, 4, 5)] == pytest.approx([0.3, 0.3, 0.03])


def test_cosine_with_warmup_epochs():
    lr = LearningRate(1.0, [CosineDecay(max_epochs=3, min_lr_ratio=0.1),
                            LinearWarmup(epochs=1, start_factor=0.5)])
    lrs = lr_trace(lr(10), 40)
    cos = lambda s: 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * s / 30))  # noqa: E731
    assert lrs[0] == pytest.approx(0.5)
    assert lrs[5] == pytest.approx(cos(5) * 0.75)
    assert lrs[10] == pytest.approx(cos(10))
    assert lrs[15] == pytest.approx(0.55)
    assert lrs[30] == pytest.approx(0.1)
    assert lrs[39] == pytest.approx(0.1)


def test_scheduler_state_restores_position():
    lr = LearningRate(1.0, [PiecewiseDecay(milestones=[1]), LinearWarmup(steps=4)])
    first = lr(3)
    lr_trace(first, 3)
    second = lr(3)
    second.set_state_dict(first.state_dict())
    assert lr_trace(second, 3) == pytest.approx(lr_trace(first, 3))
    assert second.last_epoch == 6


@pytest.mark.parametrize('schedulers, message', [
    ([LinearWarmup()], 'exactly one decay'),
    ([PiecewiseDecay(), CosineDecay()], 'exactly one decay'),
    ([PiecewiseDecay(), LinearWarmup(), LinearWarmup()], 'at most one LinearWarmup'),
    ([PiecewiseDecay(), 'LinearWarmup'], r'schedulers\[1\] is a str'),
])
def test_bad_scheduler_lists(schedulers, message):
    with pytest.raises(ValueError, match=message):
        LearningRate(0.1, schedulers)


def test_bad_decay_arguments():
    with pytest.raises(ValueError, match='needs 3 rates'):
        PiecewiseDecay(milestones=[1, 2], values=[0.1])
    with pytest.raises(ValueError, match='2 factors for 1 milestones'):
        PiecewiseDecay(gamma=[0.1, 0.01], milestones=[3])
    with pytest.raises(ValueError, match='steps_per_epoch'):
        LearningRate()(0)


def _linear():
    paddle.seed(3)
    return paddle.nn.Linear(3, 2)


def _step_with_zero_grad(model, optimizer):
    (model(paddle.ones([2, 3])).sum() * 0.0).backward()
    optimizer.step()
    optimizer.clear_grad()


def _weights(model):
    return [p.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize('opt_type, cls', [('Momentum', paddle.optimizer.Momentum),
                                           ('Adam', paddle.optimizer.Adam),
                                           ('AdamW', paddle.optimizer.AdamW)])
def test_optimizer_types(opt_type, cls):
    builder = OptimizerBuilder(optimizer={'type': opt_type}, regularizer=None)
    assert isinstance(builder(0.1, _linear().parameters()), cls)


def test_momentum_l2_regularizer_decays_weights():
    model = _linear()
    before = _weights(model)
    opt = OptimizerBuilder({'type': 'Momentum', 'momentum': 0.0},
                           {'type': 'L2', 'factor': 0.1})(1.0, model.parameters())
    _step_with_zero_grad(model, opt)
    for old, new in zip(before, _weights(model)):
        np.testing.assert_allclose(new, old * 0.9, rtol=1e-6)


def test_adamw_uses_regularizer_factor_as_decoupled_weight_decay():
    model = _linear()
    before = _weights(model)
    builder = OptimizerBuilder({'type': 'AdamW'}, {'type': 'L2', 'factor': 0.2})
    opt = builder(0.5, model.parameters())
    _step_with_zero_grad(model, opt)
    for old, new in zip(before, _weights(model)):
        np.testing.assert_allclose(new, old * (1 - 0.5 * 0.2), rtol=1e-6)


@pytest.mark.parametrize('regularizer', [None, 'None', {'type': 'L2', 'factor': 0.0}])
def test_disabled_regularizer_leaves_weights(regularizer):
    model = _linear()
    before = _weights(model)
    opt = OptimizerBuilder({'type': 'Momentum', 'momentum': 0.9}, regularizer)(1.0,
                                                                               model.parameters())
    _step_with_zero_grad(model, opt)
    for old, new in zip(before, _weights(model)):
        np.testing.assert_array_equal(new, old)


def test_clip_grad_by_norm_limits_update():
    model = _linear()
    before = _weights(model)
    opt = OptimizerBuilder({'type': 'Momentum', 'momentum': 0.0}, None,
                           clip_grad_by_norm=0.5)(1.0, model.parameters())
    (model(paddle.full([2, 3], 100.0)).sum()).backward()
    opt.step()
    delta = np.sqrt(sum(((n - o) ** 2).sum() for o, n in zip(before, _weights(model))))
    assert delta == pytest.approx(0.5, rel=1e-5)


def test_builder_from_paddledetection_yaml():
    cfg = load_yaml("""
OptimizerBuilder:
  optimizer: {type: Adam}
  regularizer: {factor: 0.0, type: L2}
  clip_grad_by_norm: 1
""")
    opt = create('OptimizerBuilder', cfg)(0.1, _linear().parameters())
    assert isinstance(opt, paddle.optimizer.Adam)
    assert isinstance(opt._grad_clip, paddle.nn.ClipGradByGlobalNorm)
    none_cfg = load_yaml("OptimizerBuilder: {regularizer: None, clip_grad_by_norm: null}")
    assert create('OptimizerBuilder', none_cfg).regularizer is None


def test_builder_errors():
    with pytest.raises(ValueError, match=r"'SGD' is not supported; use one of \['Adam', 'AdamW', "
                                         r"'Momentum'\]"):
        OptimizerBuilder({'type': 'SGD'})
    with pytest.raises(ValueError, match="must be one of"):
        OptimizerBuilder({'type': 'Adam'}, {'type': 'L3', 'factor': 1.0})
    with pytest.raises(ValueError, match='only accepted for AdamW'):
        OptimizerBuilder({'type': 'Momentum', 'weight_decay': 0.1})(0.1, _linear().parameters())
    with pytest.raises(TypeError, match='paddle.optimizer.Adam'):
        OptimizerBuilder({'type': 'Adam', 'bogus': 1}, None)(0.1, _linear().parameters())
