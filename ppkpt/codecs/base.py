"""The codec contract: one object turns annotations into training targets and network outputs
back into keypoints, so training, evaluation, export and deploy share one geometry.

A config declares its codec once, as the top-level ``codec:`` key (e.g.
``codec: !HeatmapCodec {sigma: 2, target_type: udp}``); the target transform, the head and the
exporter all receive that entry, and deploy rebuilds the same codec from ``infer_cfg.yml`` with
:func:`build_codec`. This module imports numpy and the standard library only.

Dimension names: N instances (or crops), K joints, D = 2 coordinates (x, y).
"""
import inspect
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, Mapping, Tuple, Type

import numpy as np

__all__ = ['KeypointCodec', 'build_codec', 'CODECS']

CODECS: Dict[str, Type['KeypointCodec']] = {}
"""Codec classes by name, filled by :meth:`KeypointCodec.__init_subclass__`."""


class KeypointCodec(metaclass=ABCMeta):
    """Base class of every codec.

    Subclasses implement :meth:`encode` and :meth:`decode`; their constructor arguments are
    what :meth:`to_config` writes into ``infer_cfg.yml``, so every argument must be stored
    under its own name.

    Attributes:
        input_size: (2,) model input size (w, h) in pixels.
        flip_shift: heatmap pixels the un-flipped output of a mirrored image must move right
            (toward +x) to line up with the plain output in flip test; 0 for codecs whose
            flip is exact.
    """

    __category__ = 'codec'
    input_size: np.ndarray
    flip_shift: float = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            CODECS[cls.__name__] = cls

    @abstractmethod
    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> Dict[str, np.ndarray]:
        """Targets of the instances of one image or crop.

        Args:
            keypoints: (N, K, D) keypoints in model input pixels.
            keypoints_visible: (N, K) visibility; > 0 means labelled.

        Returns:
            Named float32 target arrays (e.g. ``target`` and ``target_weight``).
        """

    @abstractmethod
    def decode(self, outputs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints from the network outputs of a batch.

        Args:
            outputs: the head's raw output for N crops (or images).

        Returns:
            keypoints: (N, K, D) float32 in model input pixels.
            scores: (N, K) float32 confidences.
        """

    def to_config(self) -> Dict[str, Any]:
        """``{'type': ClassName, **constructor arguments}``, plain YAML-safe values."""
        params = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {'type': type(self).__name__, **{name: _plain(getattr(self, name))
                                                 for name in params}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeypointCodec) and self.to_config() == other.to_config()

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.to_config().items() if k != 'type')
        return f'{type(self).__name__}({args})'


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def build_codec(spec: Mapping[str, Any], source: str = 'codec') -> KeypointCodec:
    """Rebuild a codec from :meth:`KeypointCodec.to_config` output (e.g. ``infer_cfg.yml``).

    Raises:
        ValueError: naming ``source`` when the type is missing or unknown.
    """
    import ppkpt.codecs  # noqa: F401  (defines the built-in codecs)

    if not isinstance(spec, Mapping) or 'type' not in spec:
        raise ValueError(f'{source}: a codec needs a `type` key, got {spec!r}')
    name = spec['type']
    if name not in CODECS:
        raise ValueError(f'{source}: unknown codec type {name!r}; known: {sorted(CODECS)}')
    args = {k: v for k, v in spec.items() if k != 'type'}
    try:
        return CODECS[name](**args)
    except TypeError as exc:
        raise ValueError(f'{source}: {name}: {exc}') from exc
