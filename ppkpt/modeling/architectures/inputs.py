"""Checks the architectures share: built parts, batch keys and array conversion."""
from typing import Any, Mapping, Union

import numpy as np
import paddle
import paddle.nn as nn

__all__ = ['check_built', 'require_input', 'as_float64']


def check_built(owner: str, name: str, value: Union[nn.Layer, str]) -> None:
    """Raise TypeError unless ``value`` (the ``owner.name`` argument) is a built layer."""
    if not isinstance(value, nn.Layer):
        raise TypeError(f'{owner}.{name} must be a built layer, got {value!r}; build the '
                        f'model with create() from a config, or pass an instance')


def require_input(inputs: Mapping[str, Any], key: str, owner: str) -> Any:
    """``inputs[key]``, or a KeyError naming ``owner``, the key and the keys there are."""
    if key not in inputs:
        raise KeyError(f"{owner} needs inputs['{key}'], got keys {sorted(inputs)}")
    return inputs[key]


def as_float64(value: Any) -> np.ndarray:
    """A Tensor or array-like as a float64 numpy array."""
    if isinstance(value, paddle.Tensor):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)
