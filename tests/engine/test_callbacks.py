"""VisualDL scalars (with a stand-in LogWriter) and the CPU fallback of --amp."""
import logging
import sys
import types

import pytest

from ppkpt.engine.callbacks import VisualDLWriter
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
