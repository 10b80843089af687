"""Loop observers: log lines, checkpoints, curves and VisualDL scalars.

Each callback implements any of ``on_train_begin``, ``on_step_end``, ``on_epoch_end`` and
``on_train_end`` and receives the trainer's ``status`` dict. Only rank 0 gets callbacks that write.
Order matters: the checkpointer runs before the curve plotter so the AP it records is plotted.
"""
import collections
import datetime
import json
import logging
import os
from typing import Any, Dict, List, Optional

from ppkpt.core.workspace import declare_keys
from ppkpt.engine.checkpoint import save_checkpoint
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
    callbacks.append(CurveWriter(trainer.save_dir))
    if trainer.cfg.get('use_vdl', False):
        writer = VisualDLWriter.create(trainer.cfg.get('vdl_log_dir', 'vdl_log_dir/scalar'))
        if writer is not None:
            callbacks.append(writer)
    return callbacks


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
    """Writes ``{epoch}``/``model_final`` snapshots atomically and, with ``--eval``, ``best_model``.

    Args:
        trainer: the running :class:`~ppkpt.engine.trainer.Trainer`.
        validate: evaluate at each snapshot and keep the best weights.
    """

    def __init__(self, trainer: Any, validate: bool) -> None:
        self.trainer = trainer
        self.validate = validate
        self.snapshot_epoch = int(trainer.cfg.get('snapshot_epoch', 1))
        self.best_metric = float('-inf')

    def on_epoch_end(self, status: Dict[str, Any]) -> None:
        epoch = status['epoch_id']
        last = epoch + 1 == status['epochs']
        if (epoch + 1) % self.snapshot_epoch and not last:
            return
        trainer = self.trainer
        weights = trainer.ema.apply() if trainer.ema is not None else trainer.model.state_dict()
        name = 'model_final' if last else str(epoch)
        save_checkpoint(weights, trainer.optimizer.state_dict(), trainer.save_dir, name,
                        trainer.state_for_checkpoint())
        status['last_checkpoint'] = os.path.join(trainer.save_dir, f'{name}.pdparams')
        logger.info('Saved checkpoint %s', status['last_checkpoint'])
        if self.validate:
            self._evaluate(status, weights)

    def _evaluate(self, status: Dict[str, Any], weights: Dict[str, Any]) -> None:
        trainer = self.trainer
        results = trainer.evaluate(weights if trainer.ema is not None else None)
        key = next(iter(results))
        value = float(results[key][0]) if isinstance(results[key], (list, tuple)) \
            else float(results[key])
        status.setdefault('eval_history', []).append({'epoch': status['epoch_id'], key: value})
        if value > self.best_metric:
            self.best_metric = value
            save_checkpoint(weights, trainer.optimizer.state_dict(), trainer.save_dir,
                            'best_model', trainer.state_for_checkpoint())
            logger.info('Best %s so far: %.4f (epoch %d), saved best_model', key, value,
                        status['epoch_id'])


class CurveWriter:
    """Draws the loss curve (and eval metric curve) to ``{save_dir}/curves.png`` and JSON."""

    def __init__(self, save_dir: str) -> None:
        self.save_dir = save_dir
        self.losses: List[float] = []

    def on_step_end(self, status: Dict[str, Any]) -> None:
        self.losses.append(status['losses']['loss'])

    def on_epoch_end(self, status: Dict[str, Any]) -> None:
        os.makedirs(self.save_dir, exist_ok=True)
        history = status.get('eval_history', [])
        curves = {'loss': self.losses}
        if history:
            key = [k for k in history[0] if k != 'epoch'][0]
            curves[f'eval {key}'] = [h[key] for h in history]
        plot_curves(curves, os.path.join(self.save_dir, 'curves.png'))
        with open(os.path.join(self.save_dir, 'curves.json'), 'w') as f:
            json.dump({'loss': self.losses, 'eval': history}, f)


class VisualDLWriter:
    """Writes every loss and the learning rate as VisualDL scalars."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.step = 0

    @classmethod
    def create(cls, log_dir: str) -> Optional['VisualDLWriter']:
        """A writer, or None (with a warning) when visualdl is not installed."""
        try:
            from visualdl import LogWriter
        except ImportError:
            logger.warning('--use_vdl needs visualdl: pip install visualdl (or ppkpt[vdl])')
            return None
        return cls(LogWriter(log_dir))

    def on_step_end(self, status: Dict[str, Any]) -> None:
        for key, value in status['losses'].items():
            self.writer.add_scalar(f'train/{key}', value, self.step)
        self.writer.add_scalar('train/learning_rate', status['learning_rate'], self.step)
        self.step += 1

    def on_train_end(self, status: Dict[str, Any]) -> None:
        self.writer.close()
