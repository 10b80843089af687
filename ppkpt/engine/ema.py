"""Exponential moving average of a model's weights.

The average covers every floating-point entry of ``model.state_dict()``: the trainable
parameters AND the BatchNorm running statistics (``_mean``, ``_variance``). It starts as a copy
of the model, so no bias correction is needed. Typical use in a training loop::

    ema = ModelEMA(model)
    for batch in loader:
        ...; optimizer.step()
        ema.update(model)
    model.set_state_dict(ema.apply())     # evaluate or save the averaged weights
"""
import math
from typing import Any, Dict

import numpy as np
import paddle

__all__ = ['ModelEMA']

_DECAY_TYPES = ('threshold', 'exponential', 'normal')


class ModelEMA:
    """Keeps ``ema = d * ema + (1 - d) * weights`` after every :meth:`update`.

    Args:
        model: the model whose state is averaged; the average starts as a copy of it.
        decay: the target decay ``d``.
        ema_decay_type: how ``d`` depends on the update count ``step`` (0 for the first update):
            ``'threshold'``: ``min(decay, (1 + step) / (10 + step))``;
            ``'exponential'``: ``decay * (1 - exp(-(step + 1) / 2000))``;
            ``'normal'``: ``decay``.
        cycle_epoch: when > 0, :meth:`end_epoch` restarts the average from the current model
            every ``cycle_epoch`` epochs; -1 never restarts.
    """

    def __init__(self, model: paddle.nn.Layer, decay: float = 0.9998,
                 ema_decay_type: str = 'threshold', cycle_epoch: int = -1) -> None:
        if ema_decay_type not in _DECAY_TYPES:
            raise ValueError(f'ema_decay_type must be one of {_DECAY_TYPES}, '
                             f'got {ema_decay_type!r}')
        if not 0.0 <= decay < 1.0:
            raise ValueError(f'EMA decay must be in [0, 1), got {decay}')
        self.decay = float(decay)
        self.ema_decay_type = ema_decay_type
        self.cycle_epoch = cycle_epoch
        self.step = 0
        self.epoch = 0
        self.state = self._copy_state(model)

    @staticmethod
    def _copy_state(model: paddle.nn.Layer) -> Dict[str, paddle.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay used by the next :meth:`update`."""
        if self.ema_decay_type == 'threshold':
            return min(self.decay, (1.0 + self.step) / (10.0 + self.step))
        if self.ema_decay_type == 'exponential':
            return self.decay * (1.0 - math.exp(-(self.step + 1) / 2000.0))
        return self.decay

    @paddle.no_grad()
    def update(self, model: paddle.nn.Layer) -> None:
        """Blend the model's current state into the average; call once per optimiser step."""
        decay = self.current_decay()
        for key, value in model.state_dict().items():
            if key not in self.state:
                raise KeyError(f'ModelEMA.update: model entry {key!r} is not in the EMA state; '
                               'the EMA was created from a different model')
            if paddle.is_floating_point(value):
                self.state[key].scale_(decay).add_((1.0 - decay) * value.detach())
            else:
                self.state[key] = value.detach().clone()
        self.step += 1

    def end_epoch(self, model: paddle.nn.Layer) -> None:
        """Count a finished epoch; with ``cycle_epoch > 0`` restart the average on schedule."""
        self.epoch += 1
        if self.cycle_epoch > 0 and self.epoch % self.cycle_epoch == 0:
            self.state = self._copy_state(model)
            self.step = 0

    def apply(self) -> Dict[str, paddle.Tensor]:
        """A copy of the averaged weights, ready for ``model.set_state_dict`` or saving (the
        average itself is updated in place)."""
        return {k: v.clone() for k, v in self.state.items()}

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to continue the average exactly: weights, step and epoch counters."""
        return {'state': {k: v.numpy() for k, v in self.state.items()},
                'step': self.step, 'epoch': self.epoch}

    def set_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; the weight keys must match this EMA's."""
        for name in ('state', 'step', 'epoch'):
            if name not in state:
                raise KeyError(f'EMA state has no {name!r} entry (keys: {sorted(state)})')
        missing = sorted(set(self.state) - set(state['state']))
        unexpected = sorted(set(state['state']) - set(self.state))
        if missing or unexpected:
            raise KeyError(f'EMA state does not match the model: missing {missing}, '
                           f'unexpected {unexpected}')
        self.state = {k: paddle.to_tensor(np.asarray(state['state'][k]),
                                          dtype=self.state[k].dtype) for k in self.state}
        self.step = int(state['step'])
        self.epoch = int(state['epoch'])
