"""Loading weights into a model: leniently for fine-tuning, strictly for evaluation and export.

- :func:`load_pretrain_weight` is lenient (fine-tuning): it matches keys exactly or by suffix
  and skips, with a log line each, entries that are missing or have another shape.
- :func:`load_weight` is strict (evaluation, export): any missing, unexpected or mis-shaped
  entry raises one error listing them all. Paddle's own ``set_state_dict`` only warns.
"""
import logging
import os
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import paddle

__all__ = ['load_pretrain_weight', 'load_weight', 'set_state_dict_strict']

logger = logging.getLogger('ppkpt')


def _params_path(path: str) -> str:
    """``path`` with a ``.pdparams`` suffix, checked to exist."""
    full = path if path.endswith('.pdparams') else path + '.pdparams'
    if not os.path.isfile(full):
        raise FileNotFoundError(f'Weight file not found: {full}')
    return full


def _load_arrays(path: str) -> Dict[str, np.ndarray]:
    """Load a ``.pdparams`` as ``{key: ndarray}``; non-array entries raise naming the key."""
    state = paddle.load(path, return_numpy=True)
    if not isinstance(state, dict):
        raise ValueError(f'{path} does not hold a state dict (got {type(state).__name__})')
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(f'{path}: entry {key!r} is a {type(value).__name__}, not an array')
    return state


def _model_shapes(model: paddle.nn.Layer) -> Dict[str, Tuple[List[int], Any]]:
    return {k: (list(v.shape), v.dtype) for k, v in model.state_dict().items()}


def _cast(array: np.ndarray, dtype: Any) -> paddle.Tensor:
    """``array`` as a tensor of the model entry's ``dtype`` (``set_state_dict`` will not cast)."""
    tensor = paddle.to_tensor(array)
    return tensor if tensor.dtype == dtype else tensor.astype(dtype)


def _suffix_match(model_key: str, source_keys: List[str]) -> Tuple[Optional[str], str]:
    """The source key for ``model_key``: exact, else the only key that one ends with the other
    at a ``.`` boundary. Returns ``(key or None, reason when None)``."""
    if model_key in source_keys:
        return model_key, ''
    found = [k for k in source_keys
             if model_key.endswith('.' + k) or k.endswith('.' + model_key)]
    if len(found) == 1:
        return found[0], ''
    if not found:
        return None, 'not in the file'
    return None, f'ambiguous, it matches {sorted(found)}'


def load_pretrain_weight(model: paddle.nn.Layer, path: str) -> None:
    """Load what fits from a ``.pdparams`` into ``model``, logging every entry it skips.

    Keys match exactly, else by a unique suffix at a ``.`` boundary (so backbone-only files
    without the ``backbone.`` prefix load too). Entries whose shape differs, e.g. a final layer
    for another number of joints, keep the model's initial values.

    Args:
        model: the model to update in place.
        path: a ``.pdparams`` file, with or without the suffix.
    """
    full = _params_path(path)
    source = _load_arrays(full)
    source_keys = list(source)
    shapes = _model_shapes(model)
    loaded: Dict[str, paddle.Tensor] = {}
    for key, (shape, dtype) in shapes.items():
        src_key, reason = _suffix_match(key, source_keys)
        if src_key is None:
            logger.info('Pretrain %s: skip %s (%s)', full, key, reason)
        elif list(source[src_key].shape) != shape:
            logger.info('Pretrain %s: skip %s, shape mismatch: model %s, file %s (%s)', full, key,
                        shape, list(source[src_key].shape), src_key)
        else:
            loaded[key] = _cast(source[src_key], dtype)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Skip loading for')
        model.set_state_dict(loaded)
    logger.info('Loaded %d of %d model entries from pretrained weights %s (%d skipped)',
                len(loaded), len(shapes), full, len(shapes) - len(loaded))


def _mismatch_report(model: paddle.nn.Layer, state: Mapping[str, Any]) -> List[str]:
    """One line per missing key, unexpected key and shape mismatch (empty if all match)."""
    shapes = _model_shapes(model)
    lines = [f'  missing key: {k} (expected shape {shapes[k][0]})'
             for k in shapes if k not in state]
    lines += [f'  unexpected key: {k} (shape {list(np.shape(state[k]))})'
              for k in state if k not in shapes]
    lines += [f'  shape mismatch: {k} expected {shapes[k][0]}, got {list(np.shape(state[k]))}'
              for k in shapes if k in state and list(np.shape(state[k])) != shapes[k][0]]
    return lines


def set_state_dict_strict(model: paddle.nn.Layer, state: Mapping[str, Any], source: str) -> None:
    """``model.set_state_dict(state)`` that first checks every key and shape.

    Raises:
        ValueError: naming ``source`` and listing every missing key, unexpected key and shape
            mismatch (key, expected shape, got shape).
    """
    problems = _mismatch_report(model, state)
    if problems:
        raise ValueError(f'{source} does not match the model ({len(problems)} problems):\n'
                         + '\n'.join(problems))
    shapes = _model_shapes(model)
    model.set_state_dict({k: _cast(np.asarray(v), shapes[k][1]) for k, v in state.items()})


def load_weight(model: paddle.nn.Layer, path: str) -> None:
    """Load a ``.pdparams`` (with or without the suffix) that must match ``model`` exactly.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: listing every missing key, unexpected key and shape mismatch.
    """
    full = _params_path(path)
    set_state_dict_strict(model, _load_arrays(full), full)
    logger.info('Loaded weights from %s', full)
