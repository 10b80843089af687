"""The training loop: learning, exact resume, NaN stop, weight loading, curves and eval."""
import json
import os
import random

import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import load_config
from ppkpt.engine.callbacks import RunHistory
from ppkpt.engine.checkpoint import KILL_HOOK_ENV, load_resume
from ppkpt.engine.trainer import Trainer

from helpers import PLIER_CONFIG, run_tool, tiny_plier_options


def make_trainer(data_dir, save_dir, extra=(), mode='train'):
    cfg = load_config(PLIER_CONFIG, tiny_plier_options(data_dir, save_dir) + list(extra))
    return Trainer(cfg, mode)


def test_training_lowers_the_loss_and_writes_snapshots_and_curves(plier_data, tmp_path):
    paddle.seed(0)
    np.random.seed(0)
    trainer = make_trainer(plier_data, str(tmp_path), ['epoch=4', 'TopDownHeatmapHead.flip_test=false'])
    trainer.train(validate=True)
    run_dir = tmp_path / 'plier_5kp'
    curves = json.loads((run_dir / 'curves.json').read_text())
    losses = curves['loss']
    assert len(losses) == 4 * len(trainer.loader)
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    for name in ('0', '1', '2', 'model_final', 'best_model'):
        assert (run_dir / f'{name}.pdparams').is_file() and (run_dir / f'{name}.pdopt').is_file()
    assert [h['epoch'] for h in curves['eval']] == [0, 1, 2, 3]
    assert (run_dir / 'curves.png').stat().st_size > 1000
    assert (run_dir / 'keypoints_results.json').is_file()


def test_nan_loss_stops_with_iteration_and_keeps_last_checkpoint(plier_data, tmp_path,
                                                                monkeypatch):
    trainer = make_trainer(plier_data, str(tmp_path))
    forward = type(trainer.model).forward
    calls = {'n': 0}
    steps = len(trainer.loader)

    def poisoned(self, inputs):
        out = forward(self, inputs)
        if self.training:
            calls['n'] += 1
            if calls['n'] == steps + 2:
                out['loss'] = out['loss'] * float('nan')
        return out

    monkeypatch.setattr(type(trainer.model), 'forward', poisoned)
    snapshot = tmp_path / 'plier_5kp' / '0.pdparams'
    with pytest.raises(FloatingPointError) as err:
        trainer.train()
    message = str(err.value)
    assert f'Loss is nan at epoch 1, iteration 1 (global step {steps + 1})' in message
    assert str(snapshot) in message and 'is unchanged' in message
    before = snapshot.read_bytes()
    state = paddle.load(str(snapshot))
    assert all(np.isfinite(np.asarray(v)).all() for v in state.values())
    assert snapshot.read_bytes() == before


def test_resume_continues_exactly(plier_data, tmp_path):
    """A run killed as it starts writing model_final, resumed with -r on snapshot 0, ends with
    the weights of an uninterrupted run; -r on the half-written model_final is refused."""
    base = ['tools/train.py', '-c', PLIER_CONFIG, '--seed', '3', '-o']
    full_dir, split_dir = str(tmp_path / 'full'), str(tmp_path / 'split')
    run_dir = os.path.join(split_dir, 'plier_5kp')
    run_tool(base + tiny_plier_options(plier_data, full_dir) + ['use_ema=true'])
    killed = run_tool(base + tiny_plier_options(plier_data, split_dir) + ['use_ema=true'],
                      env_update={KILL_HOOK_ENV: 'model_final:begin'}, check=False)
    assert killed.returncode == -9
    refused = run_tool(base + tiny_plier_options(plier_data, split_dir)
                       + ['-r', os.path.join(run_dir, 'model_final')], check=False)
    assert refused.returncode == 2
    assert (f"SnapshotError: Cannot resume from {run_dir}/model_final: the snapshot is "
            "incomplete: model_final.manifest.json says its write was interrupted (state "
            "'writing'); model_final.pdparams is missing; model_final.pdopt is missing. The last "
            f"complete snapshot is {run_dir}/0 (epoch 0)") in refused.stderr
    first = paddle.load(os.path.join(run_dir, '0.pdparams'))
    resumed_run = run_tool(base + tiny_plier_options(plier_data, split_dir) + ['use_ema=true']
                           + ['-r', os.path.join(run_dir, '0')])
    assert f'Resumed from {run_dir}/0: epoch 0 done, training continues at epoch 1' in \
        resumed_run.stdout
    expected = paddle.load(os.path.join(full_dir, 'plier_5kp', 'model_final.pdparams'))
    resumed = paddle.load(os.path.join(run_dir, 'model_final.pdparams'))
    assert set(expected) == set(resumed)
    assert any(not np.array_equal(np.asarray(first[k]), np.asarray(expected[k])) for k in first)
    for key in expected:
        np.testing.assert_array_equal(np.asarray(resumed[key]), np.asarray(expected[key]),
                                      err_msg=key)


class RecordingScaler:
    """Stands in for paddle.amp.GradScaler (a no-op on CPU): hands out and records its state."""

    def __init__(self, state):
        self.state, self.loaded = state, None

    def state_dict(self):
        return dict(self.state)

    def load_state_dict(self, state):
        self.loaded = state


def test_resume_from_restores_lr_rng_history_and_scaler(plier_data, tmp_path):
    paddle.seed(0)
    trainer = make_trainer(plier_data, str(tmp_path), ['TopDownHeatmapHead.flip_test=false'])
    trainer.train(validate=True)
    steps = len(trainer.loader)
    run_dir = tmp_path / 'plier_5kp'
    snapshot = load_resume(str(run_dir / '0'))
    assert snapshot.optimizer_state['LR_Scheduler']['last_epoch'] == steps
    saved_history = snapshot.extra['history']
    assert len(saved_history['losses']) == steps
    assert [e['epoch'] for e in saved_history['evals']] == [0]
    assert saved_history['best']['epoch'] == 0
    trainer.scaler = RecordingScaler({'scale': 512.0})
    assert trainer.state_for_checkpoint()['scaler'] == {'scale': 512.0}

    resumed = make_trainer(plier_data, str(tmp_path))
    resumed.scaler = RecordingScaler({})
    snapshot.extra['scaler'] = {'scale': 256.0}
    resumed.resume_from(snapshot)
    assert resumed.start_epoch == 1
    assert resumed.status['last_checkpoint'] == str(run_dir / '0.pdparams')
    assert resumed.lr.last_epoch == steps
    assert resumed.optimizer.get_lr() == pytest.approx(0.002)
    assert resumed.history == RunHistory.from_dict(saved_history)
    assert resumed.scaler.loaded == {'scale': 256.0}
    rng = snapshot.extra['rng']
    assert random.getstate() == rng['python']
    np.testing.assert_array_equal(np.random.get_state()[1], rng['numpy'][1])
    drawn = paddle.rand([4]).numpy()
    paddle.set_rng_state(rng['paddle']['state'])
    np.testing.assert_array_equal(paddle.rand([4]).numpy(), drawn)


def test_eval_tool_reports_ap_for_saved_weights(plier_data, tmp_path):
    trainer = make_trainer(plier_data, str(tmp_path), ['epoch=1'])
    trainer.train()
    weights = tmp_path / 'plier_5kp' / 'model_final.pdparams'
    out = run_tool(['tools/eval.py', '-c', PLIER_CONFIG, '-o',
                    *tiny_plier_options(plier_data, str(tmp_path)), f'weights={weights}',
                    '--output_eval', str(tmp_path / 'eval')])
    assert '| AP | AP .5 |' in out.stdout
    assert (tmp_path / 'eval' / 'keypoints_results.json').is_file()
