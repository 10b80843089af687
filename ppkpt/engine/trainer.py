"""The training and evaluation loop.

``Trainer(cfg, mode)`` builds what ``mode`` needs from the config (model, loaders, optimiser,
metric) and offers ``train``, ``evaluate``, ``resume_from`` and ``load_weights``. Everything
that only watches the loop (logging, checkpoints, VisualDL) lives in :mod:`ppkpt.engine.callbacks`.
"""
import inspect
import logging
import os
import random
import time
from typing import Any, Dict, List, Optional, Union

import numpy as np
import paddle
import paddle.distributed as dist
from tqdm import tqdm

from ppkpt.core.workspace import ConfigError, create, declare_keys, registered, require
from ppkpt.engine import callbacks as cb
from ppkpt.engine.checkpoint import Snapshot, load_resume
from ppkpt.engine.ema import ModelEMA
from ppkpt.engine.weights import load_pretrain_weight, load_weight, set_state_dict_strict
from ppkpt.metadata import KeypointMeta

logger = logging.getLogger('ppkpt')

__all__ = ['Trainer']

declare_keys('TrainDataset', 'EvalDataset', 'TestDataset', architecture=str, epoch=int,
             save_dir=str, use_ema=bool, ema_decay=float, metric=str,
             output_eval=Optional[str], save_prediction_only=bool, amp=bool,
             init_loss_scaling=float)


class Trainer:
    """Owns the model and the loop for one run.

    Args:
        cfg: the merged config (``load_config`` + ``-o`` overrides).
        mode: ``'train'``, ``'eval'`` or ``'test'``; it decides which datasets are built.
    """

    def __init__(self, cfg: Dict[str, Any], mode: str = 'train') -> None:
        if mode not in ('train', 'eval', 'test'):
            raise ValueError(f"mode must be 'train', 'eval' or 'test', got {mode!r}")
        self.cfg = cfg
        self.mode = mode
        self.save_dir = os.path.join(cfg.get('save_dir', 'output'), cfg.get('filename', 'run'))
        self.world_size = dist.get_world_size()
        self.rank = dist.get_rank()
        self.model = create(require(cfg, 'architecture', 'building the model'), cfg)
        self.start_epoch = 0
        self.ema: Optional[ModelEMA] = None
        self.optimizer = None
        if mode == 'train':
            self.dataset = create('TrainDataset', cfg)
            self.loader = create('TrainReader', cfg)(self.dataset)
            self.lr = _from_section(cfg, 'LearningRate', len(self.loader))
            self.optimizer = _from_section(cfg, 'OptimizerBuilder', self.lr,
                                           self.model.parameters())
            if cfg.get('use_ema', False):
                self.ema = ModelEMA(self.model, decay=float(cfg.get('ema_decay', 0.9998)))
        if mode in ('train', 'eval') and 'EvalDataset' in cfg:
            self.eval_dataset = create('EvalDataset', cfg)
        self.scaler = _amp_scaler(cfg) if mode == 'train' else None
        self.status: Dict[str, Any] = {}
        self.history = cb.RunHistory()

    # ------------------------------------------------------------------ weights

    def load_weights(self, path: str) -> None:
        """Load ``weights`` strictly: every key must exist with the right shape."""
        load_weight(self.model, path)

    def load_pretrain(self, path: str) -> None:
        """Load ``pretrain_weights`` leniently, logging each skipped key."""
        load_pretrain_weight(self.model, path)

    def resume_from(self, snapshot: Union[str, Snapshot]) -> None:
        """Restore everything a snapshot holds: model, optimiser with the LR scheduler position,
        EMA, AMP loss scale, epoch, the python/numpy/paddle RNG states and the run history
        (loss curve, evaluations, best metric, so ``best_model`` is only replaced by a better
        one).

        Args:
            snapshot: what :func:`~ppkpt.engine.checkpoint.load_resume` returned, or a path it
                accepts: a run folder (its newest complete snapshot) or a snapshot.

        Raises:
            SnapshotError: the snapshot is incomplete, or the folder has no complete one.
        """
        if isinstance(snapshot, str):
            snapshot = load_resume(snapshot)
        extra = snapshot.extra
        set_state_dict_strict(self.model, extra.get('raw_weights', snapshot.model_state),
                              snapshot.prefix)
        if self.optimizer is not None:
            self.optimizer.set_state_dict(snapshot.optimizer_state)
        if self.ema is not None and 'ema' in extra:
            self.ema.set_state_dict(extra['ema'])
        if self.scaler is not None and 'scaler' in extra:
            self.scaler.load_state_dict(extra['scaler'])
        if 'rng' in extra:
            _set_rng_state(extra['rng'])
        self.history = cb.RunHistory.from_dict(extra.get('history'))
        self.start_epoch = snapshot.last_epoch + 1
        self.status['last_checkpoint'] = snapshot.prefix + '.pdparams'
        logger.info('Resumed from %s: epoch %d done, training continues at epoch %d%s',
                    snapshot.prefix, snapshot.last_epoch, self.start_epoch,
                    _best_text(self.history))

    # ------------------------------------------------------------------ training

    def train(self, validate: bool = False) -> None:
        """Run epochs ``start_epoch .. epoch-1``; with ``validate``, evaluate at each snapshot."""
        cfg = self.cfg
        model = self.model
        if self.world_size > 1:
            model = paddle.DataParallel(self.model)
        callbacks = cb.build_callbacks(self, validate)
        epochs = int(require(cfg, 'epoch', 'training'))
        steps_per_epoch = len(self.loader)
        self.status.update(epoch_id=self.start_epoch, steps_per_epoch=steps_per_epoch,
                           epochs=epochs, batch_size=self.loader.batch_sampler.batch_size)
        cb.dispatch(callbacks, 'on_train_begin', self.status)
        for epoch in range(self.start_epoch, epochs):
            self.status['epoch_id'] = epoch
            self.loader.batch_sampler.set_epoch(epoch)
            model.train()
            self._train_epoch(model, epoch, callbacks)
            if self.world_size > 1:
                _average_norm_statistics(self.model, self.world_size)
            if self.ema is not None:
                self.ema.end_epoch(self.model)
            cb.dispatch(callbacks, 'on_epoch_end', self.status)
        cb.dispatch(callbacks, 'on_train_end', self.status)

    def _train_epoch(self, model: paddle.nn.Layer, epoch: int, callbacks: List[Any]) -> None:
        tic = time.perf_counter()
        for step, batch in enumerate(self.loader):
            data_cost = time.perf_counter() - tic
            losses = self._step(model, batch, epoch, step)
            self.lr.step()
            if self.ema is not None:
                self.ema.update(self.model)
            self.status.update(step_id=step, losses=losses,
                               learning_rate=self.optimizer.get_lr(), data_cost=data_cost,
                               batch_cost=time.perf_counter() - tic)
            cb.dispatch(callbacks, 'on_step_end', self.status)
            tic = time.perf_counter()

    def _step(self, model: paddle.nn.Layer, batch: Dict[str, Any], epoch: int, step: int
              ) -> Dict[str, float]:
        """Forward, NaN check, backward and optimiser step (through the AMP scaler on GPU).

        Returns:
            Every loss of the model as a Python float.
        """
        with paddle.amp.auto_cast(enable=self.scaler is not None, level='O1'):
            losses = model(batch)
        loss = losses['loss']
        values = {name: float(value) for name, value in losses.items()}
        if not np.isfinite(values['loss']):
            raise FloatingPointError(self._nan_message(epoch, step, values['loss']))
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.clear_grad()
        return values

    def _nan_message(self, epoch: int, step: int, value: float) -> str:
        last = self.status.get('last_checkpoint')
        kept = f'the last good checkpoint {last} is unchanged' if last else \
            'no checkpoint had been written yet'
        return (f'Loss is {value} at epoch {epoch}, iteration {step} (global step '
                f'{epoch * self.status["steps_per_epoch"] + step}); training stopped and {kept}. '
                'Lower the learning rate, check the data, or set clip_grad_by_norm.')

    def state_for_checkpoint(self) -> Dict[str, Any]:
        """The state a resume needs beside the saved weights (the ``.pdopt`` extras): the
        epoch, the RNG states, the run history and, when used, the EMA and AMP scaler states.

        With EMA on, the ``.pdparams`` file holds the averaged weights (what you evaluate and
        deploy), so the raw training weights travel here as ``raw_weights``.
        """
        extra: Dict[str, Any] = {'last_epoch': self.status.get('epoch_id', 0),
                                 'rng': _get_rng_state(), 'history': self.history.to_dict()}
        if self.ema is not None:
            extra['ema'] = self.ema.state_dict()
            extra['raw_weights'] = self.model.state_dict()
        if self.scaler is not None:
            extra['scaler'] = self.scaler.state_dict()
        return extra

    # ------------------------------------------------------------------ evaluation

    def build_metric(self) -> Any:
        """The metric named by ``metric:`` with the eval dataset's annotation file."""
        meta = KeypointMeta.from_config(self.cfg) if 'num_joints' in self.cfg else None
        candidates = {
            'anno_file': self.eval_dataset.get_anno(),
            'num_samples': len(self.eval_dataset),
            'num_joints': self.cfg.get('num_joints'),
            'output_eval': self.cfg.get('output_eval') or self.save_dir,
            'save_prediction_only': bool(self.cfg.get('save_prediction_only', False)),
            'sigmas': meta.sigmas if meta is not None else None,
        }
        metric_name = require(self.cfg, 'metric', 'evaluation')
        if metric_name not in registered():
            return create(metric_name, self.cfg)  # raises the unknown-name ConfigError
        params = inspect.signature(registered()[metric_name].__init__).parameters
        section = self.cfg.get(metric_name) or {}
        overrides = {k: v for k, v in candidates.items()
                     if k in params and k not in section and v is not None}
        return create(metric_name, self.cfg, **overrides)

    @paddle.no_grad()
    def evaluate(self, weights_state: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Run the metric over ``EvalDataset`` with a tqdm bar and return its results.

        Args:
            weights_state: if given, evaluate these weights (e.g. EMA) and restore afterwards.
        """
        backup = None
        if weights_state is not None:
            backup = {k: v.clone() for k, v in self.model.state_dict().items()}
            self.model.set_state_dict(weights_state)
        loader = create('EvalReader', self.cfg)(self.eval_dataset)
        metric = self.build_metric()
        metric.reset()
        self.model.eval()
        tic = time.perf_counter()
        for batch in tqdm(loader, desc='eval', disable=self.rank != 0, leave=False):
            outputs = self.model(batch)
            metric.update(batch, outputs)
        seconds = time.perf_counter() - tic
        logger.info('Evaluated %d samples in %.1f s (%.1f samples/s)', len(self.eval_dataset),
                    seconds, len(self.eval_dataset) / max(seconds, 1e-9))
        metric.accumulate()
        metric.log()
        if backup is not None:
            self.model.set_state_dict(backup)
        return metric.get_results()


def _from_section(cfg: Dict[str, Any], section: str, *args: Any) -> Any:
    """Build the factory ``section`` and call it; a bad value there is a ConfigError."""
    factory = create(section, cfg)
    try:
        return factory(*args)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f'{getattr(cfg, "path", "")}: {section}: {exc}') from exc


def _amp_scaler(cfg: Dict[str, Any]) -> Optional[paddle.amp.GradScaler]:
    """A GradScaler for fp16 training when ``amp`` is on and a GPU is in use, else None."""
    if not cfg.get('amp', False):
        return None
    if not paddle.is_compiled_with_cuda() or 'gpu' not in paddle.get_device():
        logger.warning('--amp asks for fp16 mixed precision, which needs a GPU; this run uses '
                       '%s, so it trains in float32.', paddle.get_device())
        return None
    return paddle.amp.GradScaler(init_loss_scaling=float(cfg.get('init_loss_scaling', 1024.0)))


def _best_text(history: cb.RunHistory) -> str:
    """``', best AP 0.71 (epoch 3)'`` for the resume log line; empty without evaluations."""
    best = history.best
    if best is None:
        return ''
    return f", best {best['key']} {best['value']:.4f} (epoch {best['epoch']})"


def _get_rng_state() -> Dict[str, Any]:
    """The python, numpy and paddle (current device) random states."""
    return {'python': random.getstate(), 'numpy': np.random.get_state(),
            'paddle': {'device': paddle.get_device(), 'state': paddle.get_rng_state()}}


def _set_rng_state(state: Dict[str, Any]) -> None:
    """Restore :func:`_get_rng_state`; paddle's only on the device kind it was saved on."""
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(tuple(state['numpy']))
    saved = state.get('paddle')
    if saved is None:
        return
    if saved['device'].split(':')[0] != paddle.get_device().split(':')[0]:
        logger.warning('The snapshot holds the paddle RNG state of %s, this run uses %s: paddle '
                       'random ops (e.g. dropout) will not repeat the uninterrupted run',
                       saved['device'], paddle.get_device())
        return
    paddle.set_rng_state(saved['state'])


def _as_python_state(state: Any) -> tuple:
    """``random.setstate`` wants nested tuples; a checkpoint round trip may give lists."""
    version, internal, gauss = state
    return int(version), tuple(int(x) for x in internal), gauss


def _average_norm_statistics(model: paddle.nn.Layer, world_size: int) -> None:
    """Average BatchNorm running mean/variance across ranks so every rank holds the same model."""
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.layer.norm._BatchNormBase):
            for buffer in (layer._mean, layer._variance):
                dist.all_reduce(buffer)
                buffer.set_value(buffer / world_size)
