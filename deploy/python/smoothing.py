"""Temporal keypoint filters: One Euro and exponential moving average (numpy only).

One filter instance smooths one person; the tracker gives every track its own
:class:`KeypointSmoother`. Dimension names: K joints.
"""
import math
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence, Union

import numpy as np

__all__ = ['OneEuroFilter', 'EMAFilter', 'KeypointSmoother', 'FILTER_TYPES']

FILTER_TYPES = ('OneEuro', 'EMA')


def _alpha(cutoff: np.ndarray, dt: float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass filter with ``cutoff`` Hz at step ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class _ElementwiseFilter(metaclass=ABCMeta):
    """Shared state handling of the element-wise filters; subclasses supply :meth:`_step`.

    The first sample (or one of a new shape) passes through and becomes the state. Afterwards
    masked-out entries pass through and keep their state, and an entry seen for the first time
    ("fresh") passes through and starts its state; only the other entries are filtered.
    """

    def __init__(self) -> None:
        self._value: Optional[np.ndarray] = None
        self._seen: Optional[np.ndarray] = None

    def _start(self, value: np.ndarray) -> None:
        """Extra state set up from the first sample (none by default)."""

    @abstractmethod
    def _step(self, value: np.ndarray, dt: float, fresh: np.ndarray,
              update: np.ndarray) -> np.ndarray:
        """Filtered value of every entry from ``self._value``; may update the extra state where
        ``update`` (filtered) or ``fresh`` (restarted)."""

    def _filter(self, value: np.ndarray, dt: float, mask: Optional[np.ndarray]) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        mask = np.ones(value.shape, bool) if mask is None else np.asarray(mask, bool)
        if self._value is None or self._value.shape != value.shape:
            self._value = value.copy()
            self._seen = mask.copy()
            self._start(value)
            return value.copy()
        fresh = mask & ~self._seen
        update = mask & ~fresh
        filtered = self._step(value, dt, fresh, update)
        self._value = np.where(mask, np.where(fresh, value, filtered), self._value)
        self._seen |= mask
        return np.where(update, filtered, value)


class OneEuroFilter(_ElementwiseFilter):
    """One Euro filter (Casiez et al., 2012) applied element-wise to an array.

    The cutoff grows with the filtered speed: ``cutoff = min_cutoff + beta * |dx/dt|``, so slow
    motion is smoothed strongly (little jitter) and fast motion lightly (little lag).

    Args:
        min_cutoff: cutoff frequency at rest, in Hz; lower means smoother.
        beta: speed coefficient, in 1 / (input units); higher means less lag when moving.
        d_cutoff: cutoff frequency in Hz for the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05,
                 d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(f'OneEuroFilter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0, '
                             f'got {min_cutoff}, {d_cutoff}, {beta}')
        super().__init__()
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self._speed: Optional[np.ndarray] = None

    def __call__(self, value: np.ndarray, dt: float, mask: Optional[np.ndarray] = None
                 ) -> np.ndarray:
        """Filter one sample.

        Args:
            value: array of any shape S (e.g. (K, 2) coordinates).
            dt: seconds since the previous sample (> 0).
            mask: bool array of shape S; False entries pass through unfiltered and leave the
                state untouched. None updates every entry.

        Returns:
            Filtered array of shape S.
        """
        if dt <= 0:
            raise ValueError(f'OneEuroFilter: dt must be positive, got {dt}')
        return self._filter(value, dt, mask)

    def _start(self, value: np.ndarray) -> None:
        self._speed = np.zeros_like(value)

    def _step(self, value: np.ndarray, dt: float, fresh: np.ndarray,
              update: np.ndarray) -> np.ndarray:
        speed = (value - self._value) / dt
        speed_hat = self._speed + _alpha(np.asarray(self.d_cutoff), dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(speed_hat)
        self._speed = np.where(update, speed_hat, np.where(fresh, 0.0, self._speed))
        return self._value + _alpha(cutoff, dt) * (value - self._value)


class EMAFilter(_ElementwiseFilter):
    """Exponential moving average ``y = alpha * x + (1 - alpha) * y_prev``, element-wise.

    Args:
        alpha: weight of the newest sample per frame, in (0, 1]; lower means smoother.
    """

    def __init__(self, alpha: float = 0.5) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f'EMAFilter.alpha must be in (0, 1], got {alpha}')
        super().__init__()
        self.alpha = float(alpha)

    def __call__(self, value: np.ndarray, dt: float = 1.0, mask: Optional[np.ndarray] = None
                 ) -> np.ndarray:
        """Filter one sample (``dt`` is accepted for interface parity and not used).

        Args:
            value: array of any shape S.
            dt: unused.
            mask: bool array of shape S; False entries pass through and keep their state.

        Returns:
            Filtered array of shape S.
        """
        return self._filter(value, dt, mask)

    def _step(self, value: np.ndarray, dt: float, fresh: np.ndarray,
              update: np.ndarray) -> np.ndarray:
        return self.alpha * value + (1.0 - self.alpha) * self._value


class KeypointSmoother:
    """Smooth one person's keypoints (K, 3) over time; scores pass through unchanged.

    A joint whose score is below its threshold is returned as predicted and does not update
    the filter, so unreliable detections neither get smoothed nor drag the state.

    Args:
        num_joints: K (from the model metadata).
        filter_type: ``'OneEuro'`` or ``'EMA'``.
        fps: frame rate, which sets the default time step ``1 / fps`` for One Euro.
        score_thresholds: one threshold for all joints, or K per-joint thresholds.
        min_cutoff: One Euro cutoff at rest (Hz).
        beta: One Euro speed coefficient (1 / pixel).
        d_cutoff: One Euro speed cutoff (Hz).
        alpha: EMA weight of the newest frame.
    """

    def __init__(self, num_joints: int, filter_type: str = 'OneEuro', fps: float = 30.0,
                 score_thresholds: Union[float, Sequence[float]] = 0.3, min_cutoff: float = 1.0,
                 beta: float = 0.05, d_cutoff: float = 1.0, alpha: float = 0.5) -> None:
        if filter_type not in FILTER_TYPES:
            raise ValueError(f'filter_type must be one of {FILTER_TYPES}, got {filter_type!r}')
        if fps <= 0:
            raise ValueError(f'fps must be positive, got {fps}')
        thresholds = np.broadcast_to(np.asarray(score_thresholds, dtype=np.float64), (num_joints,))
        self.num_joints = num_joints
        self.score_thresholds = thresholds.copy()
        self.dt = 1.0 / fps
        if filter_type == 'OneEuro':
            self.filter = OneEuroFilter(min_cutoff, beta, d_cutoff)
        else:
            self.filter = EMAFilter(alpha)

    def __call__(self, keypoints: np.ndarray, frames_elapsed: int = 1) -> np.ndarray:
        """Smooth one frame.

        Args:
            keypoints: (K, 3) keypoints (x, y, score) in pixels.
            frames_elapsed: frames since this person was last smoothed (> 1 after misses).

        Returns:
            (K, 3) float32 smoothed keypoints.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)
        if keypoints.shape != (self.num_joints, 3):
            raise ValueError(f'KeypointSmoother expects ({self.num_joints}, 3) keypoints, got '
                             f'{keypoints.shape}')
        reliable = keypoints[:, 2] >= self.score_thresholds
        mask = np.repeat(reliable[:, None], 2, axis=1)
        out = keypoints.copy()
        out[:, :2] = self.filter(keypoints[:, :2], self.dt * max(frames_elapsed, 1), mask)
        return out.astype(np.float32)
