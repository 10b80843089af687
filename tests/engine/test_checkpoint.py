"""Tests for ppkpt.engine.checkpoint: atomic snapshots, strict and lenient loading, resume."""
import logging
import os

import numpy as np
import paddle
import pytest
from paddle.utils import unique_name

from ppkpt.engine.checkpoint import (load_pretrain_weight, load_resume, load_weight,
                                     save_checkpoint)
from ppkpt.engine.ema import ModelEMA
from ppkpt.engine.optimizer import LearningRate, LinearWarmup, OptimizerBuilder, PiecewiseDecay


class Backbone(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.bn = paddle.nn.BatchNorm2D(4)

    def forward(self, x):
        return paddle.nn.functional.relu(self.bn(self.conv(x)))


class PoseNet(paddle.nn.Layer):
    """A backbone and a 1x1 head with one output channel per joint."""

    def __init__(self, num_joints=3):
        super().__init__()
        self.backbone = Backbone()
        self.final = paddle.nn.Conv2D(4, num_joints, 1)

    def forward(self, x):
        return self.final(self.backbone(x))


def _net(num_joints=3, seed=0):
    paddle.seed(seed)
    return PoseNet(num_joints)


def _numpy_state(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


@pytest.fixture
def ppkpt_log(caplog):
    """Capture the 'ppkpt' logger even if another test configured it not to propagate."""
    logger = logging.getLogger('ppkpt')
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger='ppkpt')
    yield caplog
    logger.removeHandler(caplog.handler)


# ------------------------------------------------------------------ save_checkpoint


def test_save_writes_both_files_and_load_resume_splits_extra(tmp_path):
    model = _net()
    prefix = save_checkpoint(model.state_dict(), {'LR_Scheduler': {'last_epoch': 7}},
                             str(tmp_path / 'run'), '3', {'last_epoch': 3, 'ema': {'step': 9}})
    assert prefix == str(tmp_path / 'run' / '3')
    assert sorted(os.listdir(tmp_path / 'run')) == ['3.pdopt', '3.pdparams']
    for path in (prefix, prefix + '.pdparams', prefix + '.pdopt'):
        model_state, opt_state, extra = load_resume(path)
        assert opt_state == {'LR_Scheduler': {'last_epoch': 7}}
        assert extra == {'last_epoch': 3, 'ema': {'step': 9}}
        np.testing.assert_array_equal(model_state['final.weight'].numpy(),
                                      model.final.weight.numpy())


def test_load_resume_reads_paddledetection_style_pdopt(tmp_path):
    paddle.save(_net().state_dict(), str(tmp_path / '9.pdparams'))
    paddle.save({'LR_Scheduler': {'last_epoch': 90}, 'last_epoch': 9}, str(tmp_path / '9.pdopt'))
    _, opt_state, extra = load_resume(str(tmp_path / '9'))
    assert opt_state == {'LR_Scheduler': {'last_epoch': 90}}
    assert extra == {'last_epoch': 9}


def test_load_resume_missing_file_names_path(tmp_path):
    paddle.save(_net().state_dict(), str(tmp_path / '2.pdparams'))
    with pytest.raises(FileNotFoundError, match=r'2\.pdopt'):
        load_resume(str(tmp_path / '2.pdparams'))
    with pytest.raises(FileNotFoundError, match=r'nothing\.pdparams'):
        load_resume(str(tmp_path / 'nothing'))


def test_extra_key_clash_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"\['LR_Scheduler'\]"):
        save_checkpoint({}, {'LR_Scheduler': {}}, str(tmp_path), 'x', {'LR_Scheduler': 1})


def _crashing_save(real_save):
    """A paddle.save that writes half of the real file, then fails like a full disk."""
    def save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        with open(path, 'r+b') as f:
            f.truncate(os.path.getsize(path) // 2)
        raise OSError('No space left on device')
    return save


def test_crash_during_save_keeps_previous_snapshot(tmp_path, monkeypatch):
    old = _net(seed=1)
    save_checkpoint(old.state_dict(), {}, str(tmp_path), 'model_final', {'last_epoch': 1})
    monkeypatch.setattr(paddle, 'save', _crashing_save(paddle.save))
    with pytest.raises(OSError, match='No space left'):
        save_checkpoint(_net(seed=2).state_dict(), {}, str(tmp_path), 'model_final',
                        {'last_epoch': 2})
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ['model_final.pdopt', 'model_final.pdparams']
    model_state, _, extra = load_resume(str(tmp_path / 'model_final'))
    assert extra == {'last_epoch': 1}
    np.testing.assert_array_equal(model_state['final.weight'].numpy(), old.final.weight.numpy())


def test_crash_during_first_save_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(paddle, 'save', _crashing_save(paddle.save))
    with pytest.raises(OSError):
        save_checkpoint(_net().state_dict(), {}, str(tmp_path), '0')
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ load_weight (strict)


def test_load_weight_roundtrip_without_suffix(tmp_path):
    source = _net(seed=1)
    paddle.save(source.state_dict(), str(tmp_path / 'best_model.pdparams'))
    target = _net(seed=2)
    load_weight(target, str(tmp_path / 'best_model'))
    for key, value in _numpy_state(source).items():
        np.testing.assert_array_equal(target.state_dict()[key].numpy(), value)


def test_load_weight_lists_every_problem(tmp_path):
    state = _numpy_state(_net(num_joints=5))
    del state['backbone.bn._mean']
    del state['backbone.conv.bias']
    state['neck.weight'] = np.zeros((2, 2), np.float32)
    path = str(tmp_path / 'other.pdparams')
    paddle.save(state, path)
    target = _net(num_joints=3)
    before = _numpy_state(target)
    with pytest.raises(ValueError) as info:
        load_weight(target, path)
    message = str(info.value)
    assert path in message
    assert '(5 problems)' in message
    assert 'missing key: backbone.bn._mean (expected shape [4])' in message
    assert 'missing key: backbone.conv.bias (expected shape [4])' in message
    assert 'unexpected key: neck.weight (shape [2, 2])' in message
    assert 'shape mismatch: final.weight expected [3, 4, 1, 1], got [5, 4, 1, 1]' in message
    assert 'shape mismatch: final.bias expected [3], got [5]' in message
    for key, value in before.items():
        np.testing.assert_array_equal(target.state_dict()[key].numpy(), value)


def test_load_weight_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.pdparams'):
        load_weight(_net(), str(tmp_path / 'nope'))


# ------------------------------------------------------------------ load_pretrain_weight (lenient)


def test_pretrain_skips_wrong_shaped_head_and_logs_it(tmp_path, ppkpt_log):
    source = _net(num_joints=17, seed=1)
    path = str(tmp_path / 'coco.pdparams')
    paddle.save(source.state_dict(), path)
    target = _net(num_joints=3, seed=2)
    head_before = target.final.weight.numpy().copy()
    load_pretrain_weight(target, path)
    np.testing.assert_array_equal(target.final.weight.numpy(), head_before)
    np.testing.assert_array_equal(target.backbone.conv.weight.numpy(),
                                  source.backbone.conv.weight.numpy())
    np.testing.assert_array_equal(target.backbone.bn._variance.numpy(),
                                  source.backbone.bn._variance.numpy())
    text = ppkpt_log.text
    assert 'skip final.weight, shape mismatch: model [3, 4, 1, 1], file [17, 4, 1, 1]' in text
    assert 'skip final.bias, shape mismatch: model [3], file [17]' in text
    assert 'Loaded 6 of 8 model entries' in text and '(2 skipped)' in text


def test_pretrain_matches_backbone_file_by_suffix_and_casts_dtype(tmp_path, ppkpt_log):
    backbone = _numpy_state(_net(seed=4).backbone)
    backbone['conv.weight'] = backbone['conv.weight'].astype(np.float64)
    paddle.save(backbone, str(tmp_path / 'imagenet.pdparams'))
    target = _net(seed=5)
    load_pretrain_weight(target, str(tmp_path / 'imagenet.pdparams'))
    np.testing.assert_allclose(target.backbone.conv.weight.numpy(), backbone['conv.weight'],
                               rtol=1e-6)
    assert target.backbone.conv.weight.dtype == paddle.float32
    assert 'skip final.weight (not in the file)' in ppkpt_log.text


def test_pretrain_ambiguous_suffix_is_skipped(tmp_path, ppkpt_log):
    state = {'a.final.bias': np.ones(3, np.float32), 'b.final.bias': np.zeros(3, np.float32)}
    paddle.save(state, str(tmp_path / 'two.pdparams'))
    target = _net()
    before = target.final.bias.numpy().copy()
    load_pretrain_weight(target, str(tmp_path / 'two.pdparams'))
    np.testing.assert_array_equal(target.final.bias.numpy(), before)
    assert "skip final.bias (ambiguous, it matches ['a.final.bias', 'b.final.bias'])" in \
        ppkpt_log.text


# ------------------------------------------------------------------ exact resume


def _build_run(seed):
    model = _net(seed=seed)
    lr = LearningRate(0.01, [PiecewiseDecay(milestones=[1]), LinearWarmup(steps=2)])(3)
    optimizer = OptimizerBuilder({'type': 'Adam'}, {'type': 'L2', 'factor': 1e-3},
                                 clip_grad_by_norm=1.0)(lr, model.parameters())
    return model, optimizer, lr, ModelEMA(model, decay=0.9)


def _train(model, optimizer, lr, ema, steps, seed):
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        x = paddle.to_tensor(rng.standard_normal((2, 3, 6, 6)).astype('float32'))
        model(x).square().mean().backward()
        optimizer.step()
        optimizer.clear_grad()
        lr.step()
        ema.update(model)


def test_resume_continuation_is_bit_exact(tmp_path):
    with unique_name.guard():
        model, optimizer, lr, ema = _build_run(seed=0)
        _train(model, optimizer, lr, ema, 2, seed=1)
        save_checkpoint(model.state_dict(), optimizer.state_dict(), str(tmp_path), '0',
                        {'last_epoch': 0, 'ema': ema.state_dict()})
        _train(model, optimizer, lr, ema, 4, seed=2)
        expected = _numpy_state(model)
        expected_ema = {k: v.numpy() for k, v in ema.apply().items()}

    with unique_name.guard():
        model2, optimizer2, lr2, ema2 = _build_run(seed=7)
        model_state, opt_state, extra = load_resume(str(tmp_path / '0'))
        model2.set_state_dict(model_state)
        optimizer2.set_state_dict(opt_state)
        ema2.set_state_dict(extra['ema'])
        assert extra['last_epoch'] == 0 and lr2.last_epoch == 2
        _train(model2, optimizer2, lr2, ema2, 4, seed=2)
    for key, value in expected.items():
        np.testing.assert_array_equal(model2.state_dict()[key].numpy(), value, err_msg=key)
    for key, value in expected_ema.items():
        np.testing.assert_array_equal(ema2.apply()[key].numpy(), value, err_msg=key)
