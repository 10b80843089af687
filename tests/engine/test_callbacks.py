"""Callbacks: the run history across resume, snapshot order and best_model, curves, VisualDL
scalars (with a stand-in LogWriter) and the CPU fallback of --amp."""
import json
import logging
import math
import os
import sys
import types
from typing import Any, Dict, List

import paddle
import pytest

from ppkpt.engine import callbacks
from ppkpt.engine.callbacks import Checkpointer, CurveWriter, RunHistory, VisualDLWriter
from ppkpt.engine.checkpoint import load_resume
from ppkpt.engine.trainer import _amp_scaler


class RecordingLogWriter:
    """Stands in for ``visualdl.LogWriter``: remembers every scalar and whether it was closed."""

    def __init__(self, logdir: str) -> None:
        self.logdir, self.scalars, self.closed = logdir, [], False

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def close(self) -> None:
        self.closed = True


def test_visualdl_writer_logs_every_loss_and_the_lr_per_step(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, 'visualdl', types.SimpleNamespace(LogWriter=RecordingLogWriter))
    writer = VisualDLWriter.create('vdl_dir')
    for step in range(2):
        writer.on_step_end({'losses': {'loss': 1.0 - step, 'heatmap_loss': 0.5},
                            'learning_rate': 0.01})
    writer.on_train_end({})
    assert writer.writer.logdir == 'vdl_dir' and writer.writer.closed
    assert writer.writer.scalars == [
        ('train/loss', 1.0, 0), ('train/heatmap_loss', 0.5, 0), ('train/learning_rate', 0.01, 0),
        ('train/loss', 0.0, 1), ('train/heatmap_loss', 0.5, 1), ('train/learning_rate', 0.01, 1)]


def test_visualdl_writer_of_a_resumed_run_continues_at_its_step(monkeypatch) -> None:
    visualdl = types.SimpleNamespace(LogWriter=RecordingLogWriter)
    monkeypatch.setitem(sys.modules, 'visualdl', visualdl)
    writer = VisualDLWriter.create('vdl_dir', start_step=30)
    writer.on_step_end({'losses': {'loss': 0.5}, 'learning_rate': 0.01})
    assert writer.writer.scalars == [('train/loss', 0.5, 30), ('train/learning_rate', 0.01, 30)]


def test_visualdl_missing_gives_a_warning_and_no_writer(monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, 'visualdl', None)
    with caplog.at_level(logging.WARNING):
        assert VisualDLWriter.create('vdl_dir') is None
    assert 'pip install visualdl' in caplog.text


@pytest.mark.parametrize('amp', [False, True])
def test_amp_on_cpu_trains_in_float32_with_a_warning(amp, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert _amp_scaler({'amp': amp}) is None
    assert ('needs a GPU' in caplog.text) == amp


# ------------------------------------------------------------------ run history


def test_run_history_keeps_the_best_and_round_trips() -> None:
    history = RunHistory(losses=[0.3, 0.2])
    assert [history.add_eval(e, 'AP', v) for e, v in enumerate([0.5, 0.4, math.nan, 0.6])] == \
        [True, False, False, True]
    assert history.best == {'epoch': 3, 'key': 'AP', 'value': 0.6}
    state = history.to_dict()
    assert state['evals'][1] == {'epoch': 1, 'AP': 0.4}
    copy = RunHistory.from_dict(state)
    assert copy == history
    copy.losses.append(0.1)
    assert history.losses == [0.3, 0.2]
    assert RunHistory.from_dict(None) == RunHistory()
    assert not RunHistory().add_eval(0, 'AP', math.nan)


class FakeTrainer:
    """What the Checkpointer uses of a Trainer: a model, an optimiser, scripted eval results."""

    def __init__(self, save_dir: str, history: RunHistory, metrics: List[float]) -> None:
        paddle.seed(0)
        self.model = paddle.nn.Linear(2, 2)
        self.optimizer = paddle.optimizer.SGD(0.1, parameters=self.model.parameters())
        self.ema = None
        self.cfg = {'snapshot_epoch': 1}
        self.save_dir = save_dir
        self.history = history
        self.metrics = list(metrics)
        self.events: List[str] = []
        self.epoch = 0

    def evaluate(self, weights: Any = None) -> Dict[str, List[float]]:
        self.events.append('evaluate')
        return {'AP': [self.metrics.pop(0), 0.9]}

    def state_for_checkpoint(self) -> Dict[str, Any]:
        return {'last_epoch': self.epoch, 'history': self.history.to_dict()}

    def run_epochs(self, epochs: range, total: int) -> None:
        checkpointer = Checkpointer(self, validate=True)
        for epoch in epochs:
            self.epoch = epoch
            with paddle.no_grad():
                self.model.weight.set_value(self.model.weight + 1.0)
            checkpointer.on_epoch_end({'epoch_id': epoch, 'epochs': total})


@pytest.fixture
def saved_names(monkeypatch) -> List[str]:
    """The snapshot names the callbacks write, in order."""
    names: List[str] = []
    real = callbacks.save_checkpoint

    def recording(*args: Any, **kwargs: Any) -> str:
        names.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(callbacks, 'save_checkpoint', recording)
    return names


def test_epoch_snapshot_is_written_after_its_evaluation_and_best_model(tmp_path, saved_names):
    trainer = FakeTrainer(str(tmp_path), RunHistory(), [0.5])
    trainer.events = saved_names  # one list for evaluations and saves, to see their order
    trainer.run_epochs(range(1), total=3)
    assert saved_names == ['evaluate', 'best_model', '0']
    history = load_resume(str(tmp_path / '0')).extra['history']
    assert history['evals'] == [{'epoch': 0, 'AP': 0.5}]
    assert history['best'] == {'epoch': 0, 'key': 'AP', 'value': 0.5}


def test_best_model_survives_a_resume_until_a_better_metric(tmp_path, saved_names):
    FakeTrainer(str(tmp_path), RunHistory(), [0.8, 0.5]).run_epochs(range(2), total=5)
    best = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path) if 'best_model' in f}
    assert saved_names == ['best_model', '0', '1']

    snapshot = load_resume(str(tmp_path))
    assert snapshot.prefix == str(tmp_path / '1')
    resumed = FakeTrainer(str(tmp_path), RunHistory.from_dict(snapshot.extra['history']),
                          [0.6, 0.9])
    resumed.run_epochs(range(2, 3), total=5)
    assert {f: (tmp_path / f).read_bytes() for f in best} == best
    resumed.run_epochs(range(3, 4), total=5)
    assert saved_names == ['best_model', '0', '1', '2', 'best_model', '3']
    final = load_resume(str(tmp_path / 'best_model'))
    assert final.last_epoch == 3
    assert [e['AP'] for e in final.extra['history']['evals']] == [0.8, 0.5, 0.6, 0.9]




def test_checkpointer_removes_temporary_files_of_a_killed_write(tmp_path, ppkpt_log) -> None:
    (tmp_path / '.3.pdopt.999.tmp').write_bytes(b'half')
    Checkpointer(FakeTrainer(str(tmp_path), RunHistory(), []), False).on_train_begin({})
    assert os.listdir(tmp_path) == []
    assert f'Removed .3.pdopt.999.tmp, left in {tmp_path} by an interrupted' in ppkpt_log.text


def test_curves_of_a_resumed_run_continue_its_history(tmp_path) -> None:
    history = RunHistory(losses=[0.9, 0.7], evals=[{'epoch': 0, 'AP': 0.2}])
    writer = CurveWriter(str(tmp_path), history)
    writer.on_step_end({'losses': {'loss': 0.5}})
    history.add_eval(1, 'AP', 0.4)
    writer.on_epoch_end({})
    curves = json.loads((tmp_path / 'curves.json').read_text())
    assert curves == {'loss': [0.9, 0.7, 0.5],
                      'eval': [{'epoch': 0, 'AP': 0.2}, {'epoch': 1, 'AP': 0.4}]}
    assert (tmp_path / 'curves.png').stat().st_size > 1000
