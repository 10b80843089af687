"""Loop observers: log lines, checkpoints, curves and VisualDL scalars.

Each callback implements any of ``on_train_begin``, ``on_step_end``, ``on_epoch_end`` and
``on_train_end`` and receives the trainer's ``status`` dict. Only rank 0 gets callbacks that write.
Order matters: the checkpointer runs before the curve plotter so the AP it records is plotted.
What must survive a resume (the loss curve, the evaluations, the best metric) lives in the
trainer's :class:`RunHistory`, which every snapshot carries.
"""
import collections
import dataclasses
import datetime
import json
import logging
import os
from typing import Any, Dict, List, Optional

from ppkpt.core.workspace import declare_keys
from ppkpt.engine.checkpoint import remove_stale_temp_files, save_checkpoint
from ppkpt.utils.plot import plot_curves

logger = logging.getLogger('ppkpt')

declare_keys(log_iter=int, snapshot_epoch=int, use_vdl=bool, vdl_log_dir=str)


def dispatch(callbacks: List[Any], event: str, status: Dict[str, Any]) -> None:
    """Call ``event`` on every callback that defines it."""
    for callback in callbacks:
        handler = getattr(callback, event, None)
        if handler is not None:
            handler(status)


def build_callbacks(trainer: Any, validate: bool) -> List[Any]:
    """The callbacks a run needs; ranks other than 0 only log."""
    callbacks: List[Any] = [LogPrinter(int(trainer.cfg.get('log_iter', 20)))]
    if trainer.rank != 0:
        return callbacks
    callbacks.append(Checkpointer(trainer, validate))
    callbacks.append(CurveWriter(trainer.save_dir, trainer.history))
    if trainer.cfg.get('use_vdl', False):
        writer = VisualDLWriter.create(trainer.cfg.get('vdl_log_dir', 'vdl_log_dir/scalar'),
                                       start_step=len(trainer.history.losses))
        if writer is not None:
            callbacks.append(writer)
    return callbacks


@dataclasses.dataclass
class RunHistory:
    """The record of a run that snapshots carry, so curves and ``best_model`` survive a resume.

    Attributes:
        losses: the total loss of every training step so far.
        evals: one ``{'epoch': e, KEY: value}`` per evaluation, KEY being the metric's first.
        best: ``{'epoch': e, 'key': KEY, 'value': v}`` of the best evaluation, or None.
    """

    losses: List[float] = dataclasses.field(default_factory=list)
    evals: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    best: Optional[Dict[str, Any]] = None

    def add_eval(self, epoch: int, key: str, value: float) -> bool:
        """Record an evaluation; True when it beats the best so far, which it then becomes."""
        self.evals.append({'epoch': epoch, key: value})
        best = self.best['value'] if self.best is not None else float('-inf')
        if not value > best:
            return False
        self.best = {'epoch': epoch, 'key': key, 'value': value}
        return True

    def to_dict(self) -> Dict[str, Any]:
        """A deep copy as plain lists and dicts (what a snapshot stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, state: Optional[Dict[str, Any]]) -> 'RunHistory':
        """The history :meth:`to_dict` returned; None (an older snapshot) gives an empty one."""
        state = state or {}
        best = state.get('best')
        return cls(losses=[float(v) for v in state.get('losses', [])],
                   evals=[dict(e) for e in state.get('evals', [])],
                   best=dict(best) if best is not None else None)


class LogPrinter:
    """Logs lr, smoothed losses, eta, batch_cost, data_cost and ips every ``log_iter`` steps."""

    def __init__(self, log_iter: int = 20) -> None:
        self.log_iter = max(1, log_iter)
        self.window: Dict[str, collections.deque] = collections.defaultdict(
            lambda: collections.deque(maxlen=self.log_iter))

    def on_step_end(self, status: Dict[str, Any]) -> None:
        for key in ('batch_cost', 'data_cost'):
            self.window[key].append(status[key])
        for key, value in status['losses'].items():
            self.window[key].append(value)
        step, steps = status['step_id'], status['steps_per_epoch']
        if (step + 1) % self.log_iter and step + 1 != steps:
            return
        batch_cost = _mean(self.window['batch_cost'])
        remaining = (status['epochs'] - status['epoch_id']) * steps - step - 1
        eta = datetime.timedelta(seconds=int(remaining * batch_cost))
        losses = ' '.join(f'{k}: {_mean(self.window[k]):.6f}' for k in status['losses'])
        logger.info('Epoch: [%d] [%d/%d] learning_rate: %.6f %s eta: %s batch_cost: %.4f '
                    'data_cost: %.4f ips: %.2f images/s', status['epoch_id'], step + 1, steps,
                    status['learning_rate'], losses, eta, batch_cost,
                    _mean(self.window['data_cost']), status['batch_size'] / max(batch_cost, 1e-9))


def _mean(values: Any) -> float:
    return sum(values) / max(len(values), 1)


class Checkpointer:
    """Writes the ``{epoch}``/``model_final`` snapshots and, with ``--eval``, ``best_model``.

    At a snapshot epoch it evaluates first (with ``validate``), writes ``best_model`` when the
    metric beats ``trainer.history.best``, and writes the epoch snapshot last, so a complete
    epoch snapshot always includes its own evaluation. A kill before that resumes from the
    previous snapshot and redoes the epoch, evaluation and ``best_model`` alike.

    Args:
        trainer: the running :class:`~ppkpt.engine.trainer.Trainer`.
        validate: evaluate at each snapshot and keep the best weights.
    """

    def __init__(self, trainer: Any, validate: bool) -> None:
        self.trainer = trainer
        self.validate = validate
        self.snapshot_epoch = int(trainer.cfg.get('snapshot_epoch', 1))

    def on_train_begin(self, status: Dict[str, Any]) -> None:
        for name in remove_stale_temp_files(self.trainer.save_dir):
            logger.info('Removed %s, left in %s by an interrupted snapshot write', name,
                        self.trainer.save_dir)

    def on_epoch_end(self, status: Dict[str, Any]) -> None:
        epoch = status['epoch_id']
        last = epoch + 1 == status['epochs']
        if (epoch + 1) % self.snapshot_epoch and not last:
            return
        trainer = self.trainer
        weights = trainer.ema.apply() if trainer.ema is not None else trainer.model.state_dict()
        if self.validate:
            self._evaluate(epoch, weights)
        prefix = self._save('model_final' if last else str(epoch), weights)
        status['last_checkpoint'] = prefix + '.pdparams'
        logger.info('Saved snapshot %s (epoch %d)', prefix, epoch)

    def _save(self, name: str, weights: Dict[str, Any]) -> str:
        trainer = self.trainer
        return save_checkpoint(weights, trainer.optimizer.state_dict(), trainer.save_dir, name,
                               trainer.state_for_checkpoint())

    def _evaluate(self, epoch: int, weights: Dict[str, Any]) -> None:
        trainer = self.trainer
        results = trainer.evaluate(weights if trainer.ema is not None else None)
        key = next(iter(results))
        value = float(results[key][0]) if isinstance(results[key], (list, tuple)) \
            else float(results[key])
        if trainer.history.add_eval(epoch, key, value):
            self._save('best_model', weights)
            logger.info('Best %s so far: %.4f (epoch %d), saved best_model', key, value, epoch)


class CurveWriter:
    """Records each step's loss in ``history`` and draws the loss (and eval metric) curves to
    ``{save_dir}/curves.png`` and ``curves.json`` at the end of every epoch."""

    def __init__(self, save_dir: str, history: RunHistory) -> None:
        self.save_dir = save_dir
        self.history = history

    def on_step_end(self, status: Dict[str, Any]) -> None:
        self.history.losses.append(status['losses']['loss'])

    def on_epoch_end(self, status: Dict[str, Any]) -> None:
        os.makedirs(self.save_dir, exist_ok=True)
        evals = self.history.evals
        curves = {'loss': self.history.losses}
        if evals:
            key = [k for k in evals[0] if k != 'epoch'][0]
            curves[f'eval {key}'] = [e[key] for e in evals]
        plot_curves(curves, os.path.join(self.save_dir, 'curves.png'))
        with open(os.path.join(self.save_dir, 'curves.json'), 'w') as f:
            json.dump({'loss': self.history.losses, 'eval': evals}, f)


class VisualDLWriter:
    """Writes every loss and the learning rate as VisualDL scalars."""

    def __init__(self, writer: Any, start_step: int = 0) -> None:
        self.writer = writer
        self.step = start_step

    @classmethod
    def create(cls, log_dir: str, start_step: int = 0) -> Optional['VisualDLWriter']:
        """A writer whose first scalar goes to step ``start_step`` (the steps a resumed run
        already did), or None (with a warning) when visualdl is not installed."""
        try:
            from visualdl import LogWriter
        except ImportError:
            logger.warning('--use_vdl needs visualdl: pip install visualdl (or ppkpt[vdl])')
            return None
        return cls(LogWriter(log_dir), start_step)

    def on_step_end(self, status: Dict[str, Any]) -> None:
        for key, value in status['losses'].items():
            self.writer.add_scalar(f'train/{key}', value, self.step)
        self.writer.add_scalar('train/learning_rate', status['learning_rate'], self.step)
        self.step += 1

    def on_train_end(self, status: Dict[str, Any]) -> None:
        self.writer.close()
