"""Learning-rate schedules and the optimiser builder, both configurable from YAML.

A config describes the schedule as a base rate plus a decay and an optional warmup::

    LearningRate:
      base_lr: 0.0005
      schedulers:
        - !PiecewiseDecay {milestones: [170, 200], gamma: 0.1}
        - !LinearWarmup {start_factor: 0.001, steps: 1000}

``create('LearningRate')(steps_per_epoch)`` returns a ``paddle.optimizer.lr.LRScheduler`` that
the trainer steps after EVERY ITERATION; epoch-based settings (milestones, ``max_epochs``,
warmup ``epochs``) are converted to iterations with ``steps_per_epoch``. The rate at iteration
``t`` is ``decay(t) * warmup_factor(t)``, where the warmup factor rises linearly from
``start_factor`` at ``t = 0`` to 1 at ``t = steps`` and stays 1 afterwards.
"""
import math
from typing import Any, Callable, Dict, List, Optional, Union

import paddle

from ppkpt.core.workspace import register, serializable

__all__ = ['PiecewiseDecay', 'CosineDecay', 'LinearWarmup', 'LearningRate', 'OptimizerBuilder',
           'IterationLR']


def _check_steps_per_epoch(steps_per_epoch: int) -> None:
    if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(f'steps_per_epoch must be a positive int, got {steps_per_epoch!r}')


@serializable
class PiecewiseDecay:
    """Step decay at epoch milestones.

    Args:
        gamma: a list with one factor per milestone, each relative to ``base_lr``; a scalar
            ``g`` means ``[g, g**2, g**3, ...]`` (0.1 with two milestones: x0.1, then x0.01).
        milestones: epochs at which the rate drops; the drop takes effect at the first
            iteration of that epoch.
        values: absolute rates, one more than ``milestones``; when given they replace
            ``base_lr`` and ``gamma``.
        use_warmup: apply the ``LinearWarmup`` of the same schedule; False ignores it.
    """

    def __init__(self, gamma: Union[float, List[float]] = 0.1,
                 milestones: List[int] = [8, 11], values: Optional[List[float]] = None,
                 use_warmup: bool = True) -> None:
        if list(milestones) != sorted(milestones):
            raise ValueError(f'PiecewiseDecay.milestones must be increasing, got {milestones}')
        if isinstance(gamma, list) and len(gamma) != len(milestones):
            raise ValueError(f'PiecewiseDecay.gamma has {len(gamma)} factors for '
                             f'{len(milestones)} milestones {milestones}')
        if values is not None and len(values) != len(milestones) + 1:
            raise ValueError(f'PiecewiseDecay.values needs {len(milestones) + 1} rates (one more '
                             f'than milestones {milestones}), got {len(values)}')
        self.milestones = list(milestones)
        self.factors = ([float(g) for g in gamma] if isinstance(gamma, list)
                        else [float(gamma) ** (i + 1) for i in range(len(milestones))])
        self.values = None if values is None else [float(v) for v in values]
        self.use_warmup = use_warmup

    def lr_at(self, step: int, base_lr: float, steps_per_epoch: int) -> float:
        """The decayed rate at iteration ``step`` (warmup not included)."""
        passed = sum(step >= m * steps_per_epoch for m in self.milestones)
        if self.values is not None:
            return self.values[passed]
        return base_lr if passed == 0 else base_lr * self.factors[passed - 1]


@serializable
class CosineDecay:
    """Half-cosine decay from ``base_lr`` to ``base_lr * min_lr_ratio`` over ``max_epochs``.

    Args:
        max_epochs: epochs until the minimum is reached; the rate stays there afterwards.
        min_lr_ratio: the final rate as a fraction of ``base_lr``.
        use_warmup: apply the ``LinearWarmup`` of the same schedule; False ignores it.
    """

    def __init__(self, max_epochs: int = 1000, min_lr_ratio: float = 0.0,
                 use_warmup: bool = True) -> None:
        if max_epochs < 1:
            raise ValueError(f'CosineDecay.max_epochs must be >= 1, got {max_epochs}')
        self.max_epochs = max_epochs
        self.min_lr_ratio = float(min_lr_ratio)
        self.use_warmup = use_warmup

    def lr_at(self, step: int, base_lr: float, steps_per_epoch: int) -> float:
        """The decayed rate at iteration ``step`` (warmup not included)."""
        progress = min(step / (self.max_epochs * steps_per_epoch), 1.0)
        min_lr = base_lr * self.min_lr_ratio
        return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


@serializable
class LinearWarmup:
    """Linear warmup of the rate, as a factor on the decay schedule.

    Args:
        steps: warmup length in iterations (0 disables warmup).
        start_factor: the factor at iteration 0; it reaches 1 at iteration ``steps``.
        epochs: warmup length in epochs; when given it replaces ``steps``.
    """

    def __init__(self, steps: int = 500, start_factor: float = 1.0 / 3,
                 epochs: Optional[int] = None) -> None:
        if steps < 0 or (epochs is not None and epochs < 0):
            raise ValueError(f'LinearWarmup needs steps >= 0 and epochs >= 0, got steps={steps}, '
                             f'epochs={epochs}')
        self.steps = steps
        self.start_factor = float(start_factor)
        self.epochs = epochs

    def total_steps(self, steps_per_epoch: int) -> int:
        """Warmup length in iterations."""
        return self.steps if self.epochs is None else self.epochs * steps_per_epoch

    def factor(self, step: int, steps_per_epoch: int) -> float:
        """The factor at iteration ``step``: ``start_factor`` at 0, 1 from ``total_steps`` on."""
        total = self.total_steps(steps_per_epoch)
        if step >= total:
            return 1.0
        alpha = step / total
        return self.start_factor * (1.0 - alpha) + alpha


class IterationLR(paddle.optimizer.lr.LRScheduler):
    """An ``LRScheduler`` whose rate is a function of the iteration index.

    Its state (``last_epoch`` = iterations done, ``last_lr``) is what paddle stores under
    ``LR_Scheduler`` in the optimiser state, so resuming restores the schedule position.

    Args:
        lr_fn: maps the iteration index (0, 1, ...) to the rate.
    """

    def __init__(self, lr_fn: Callable[[int], float]) -> None:
        self.lr_fn = lr_fn
        super().__init__(learning_rate=lr_fn(0))

    def get_lr(self) -> float:
        """The rate for iteration ``last_epoch``."""
        return float(self.lr_fn(self.last_epoch))


_DECAYS = (PiecewiseDecay, CosineDecay)


@register
class LearningRate:
    """A base rate, one decay schedule (``PiecewiseDecay`` or ``CosineDecay``) and an optional
    ``LinearWarmup``, in any order.

    Args:
        base_lr: the rate after warmup and before any decay.
        schedulers: built scheduler objects; None means
            ``[PiecewiseDecay(), LinearWarmup()]``.
    """

    __category__ = 'optim'

    def __init__(self, base_lr: float = 0.01, schedulers: Optional[List[Any]] = None) -> None:
        schedulers = [PiecewiseDecay(), LinearWarmup()] if schedulers is None else schedulers
        self.base_lr = float(base_lr)
        self.decay = self._pick(schedulers, _DECAYS, 'decay (PiecewiseDecay or CosineDecay)')
        self.warmup = self._pick(schedulers, (LinearWarmup,), 'LinearWarmup', required=False)
        for i, item in enumerate(schedulers):
            if not isinstance(item, _DECAYS + (LinearWarmup,)):
                raise ValueError(f'LearningRate.schedulers[{i}] is a {type(item).__name__}; '
                                 'expected PiecewiseDecay, CosineDecay or LinearWarmup')

    @staticmethod
    def _pick(schedulers: List[Any], kinds: tuple, what: str, required: bool = True) -> Any:
        found = [s for s in schedulers if isinstance(s, kinds)]
        if len(found) > 1 or (required and not found):
            raise ValueError(f'LearningRate.schedulers needs {"exactly" if required else "at most"}'
                             f' one {what}, got {[type(s).__name__ for s in schedulers]}')
        return found[0] if found else None

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The rate at iteration ``step`` (0-based, counted over the whole run)."""
        lr = self.decay.lr_at(step, self.base_lr, steps_per_epoch)
        if self.warmup is not None and self.decay.use_warmup:
            lr *= self.warmup.factor(step, steps_per_epoch)
        return lr

    def __call__(self, steps_per_epoch: int) -> IterationLR:
        """Build the per-iteration scheduler for a loader with ``steps_per_epoch`` batches."""
        _check_steps_per_epoch(steps_per_epoch)
        return IterationLR(lambda step: self.lr_at(step, steps_per_epoch))


_REGULARIZERS = {'L1': paddle.regularizer.L1Decay, 'L2': paddle.regularizer.L2Decay}


def _regularizer_factor(regularizer: Union[Dict[str, Any], str, None]) -> Optional[Dict[str, Any]]:
    """Normalise the ``regularizer`` option to ``None`` or ``{'type': 'L1'|'L2', 'factor': f}``."""
    if regularizer is None or regularizer == 'None':
        return None
    if isinstance(regularizer, str):
        raise ValueError(f"OptimizerBuilder.regularizer must be a mapping, None or 'None', "
                         f'got {regularizer!r}')
    reg_type = regularizer.get('type')
    if reg_type not in _REGULARIZERS:
        raise ValueError(f'OptimizerBuilder.regularizer.type must be one of '
                         f'{sorted(_REGULARIZERS)}, got {reg_type!r}')
    if 'factor' not in regularizer:
        raise ValueError('OptimizerBuilder.regularizer needs a `factor`')
    return {'type': reg_type, 'factor': float(regularizer['factor'])}


@register
class OptimizerBuilder:
    """Builds a paddle optimiser from config.

    Args:
        optimizer: ``type`` (``Momentum``, ``Adam`` or ``AdamW``) plus keyword arguments of
            that paddle optimiser, e.g. ``{type: Momentum, momentum: 0.9}``.
        regularizer: ``{type: L2, factor: f}`` (or ``L1``) becomes the optimiser's weight
            decay; for AdamW an L2 factor becomes its decoupled ``weight_decay`` coefficient.
            None or the string ``'None'`` disables it.
        clip_grad_by_norm: clip gradients to this global L2 norm (None: no clipping).
    """

    __category__ = 'optim'

    OPTIMIZERS = {'Momentum': paddle.optimizer.Momentum, 'Adam': paddle.optimizer.Adam,
                  'AdamW': paddle.optimizer.AdamW}

    def __init__(self, optimizer: Dict[str, Any] = {'type': 'Momentum', 'momentum': 0.9},
                 regularizer: Union[Dict[str, Any], str, None] = {'type': 'L2', 'factor': 1e-4},
                 clip_grad_by_norm: Optional[float] = None) -> None:
        opt_type = optimizer.get('type')
        if opt_type not in self.OPTIMIZERS:
            raise ValueError(f'OptimizerBuilder.optimizer.type {opt_type!r} is not supported; '
                             f'use one of {sorted(self.OPTIMIZERS)}')
        if clip_grad_by_norm is not None and clip_grad_by_norm <= 0:
            raise ValueError(f'OptimizerBuilder.clip_grad_by_norm must be > 0, '
                             f'got {clip_grad_by_norm}')
        self.optimizer = dict(optimizer)
        self.regularizer = _regularizer_factor(regularizer)
        self.clip_grad_by_norm = clip_grad_by_norm

    def _weight_decay(self, opt_type: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        """The ``weight_decay`` keyword for ``opt_type`` (empty when paddle's default applies)."""
        reg = self.regularizer
        if 'weight_decay' in kwargs and (reg is not None or opt_type != 'AdamW'):
            raise ValueError('OptimizerBuilder.optimizer.weight_decay is only accepted for AdamW '
                             'with regularizer None; otherwise set regularizer.factor')
        if reg is None:
            return {}
        if opt_type == 'AdamW':
            if reg['type'] != 'L2':
                raise ValueError(f"AdamW takes an L2 regularizer, got {reg['type']}")
            return {'weight_decay': reg['factor']}
        return {'weight_decay': _REGULARIZERS[reg['type']](reg['factor'])}

    def __call__(self, learning_rate: Union[float, paddle.optimizer.lr.LRScheduler],
                 parameters: List[paddle.Tensor]) -> paddle.optimizer.Optimizer:
        """Build the optimiser.

        Args:
            learning_rate: a scheduler from :class:`LearningRate` or a constant rate.
            parameters: the model's parameters (``model.parameters()``).
        """
        kwargs = {k: v for k, v in self.optimizer.items() if k != 'type'}
        opt_type = self.optimizer['type']
        kwargs.update(self._weight_decay(opt_type, kwargs))
        if self.clip_grad_by_norm is not None:
            kwargs['grad_clip'] = paddle.nn.ClipGradByGlobalNorm(clip_norm=self.clip_grad_by_norm)
        try:
            return self.OPTIMIZERS[opt_type](learning_rate=learning_rate, parameters=parameters,
                                             **kwargs)
        except TypeError as exc:
            raise TypeError(f'OptimizerBuilder.optimizer: bad arguments {sorted(kwargs)} for '
                            f'paddle.optimizer.{opt_type}: {exc}') from exc
