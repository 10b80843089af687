"""Saving and loading weights and training snapshots.

A snapshot is two files: ``{name}.pdparams`` (the model ``state_dict``) and ``{name}.pdopt``
(the optimiser ``state_dict`` with ``last_epoch`` and the other ``extra`` entries, e.g. ``ema``,
stored beside the optimiser keys as PaddleDetection does). Each file is written atomically.

Three ways to load weights:

- :func:`load_pretrain_weight` is lenient (fine-tuning): it matches keys exactly or by suffix
  and skips, with a log line each, entries that are missing or have another shape.
- :func:`load_weight` is strict (evaluation, export): any missing, unexpected or mis-shaped
  entry raises one error listing them all. Paddle's own ``set_state_dict`` only warns.
- :func:`load_resume` reads a snapshot back for the trainer.

Resuming and optimiser key names: paddle names optimiser accumulators after the parameters
plus a process-wide counter (``conv2d_0.w_0_moment1_0``), created at the FIRST optimiser step.
If another optimiser over same-named parameters has stepped earlier in the process, the
counter differs and the first step after ``set_state_dict`` fails with "Optimizer set error,
... should in state dict". The trainer avoids this by building the model and optimiser and
loading the snapshot in a fresh process before any step. Code that resumes inside a process
that already trained something must run each build, load and training run inside its own
``paddle.utils.unique_name.guard()`` (tests do this).
"""
import logging
import os
import tempfile
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import paddle

__all__ = ['save_checkpoint', 'load_pretrain_weight', 'load_weight', 'load_resume',
           'set_state_dict_strict', 'EXTRA_KEYS_ENTRY']

logger = logging.getLogger('ppkpt')

# The .pdopt entry that lists which top-level keys are ``extra`` rather than optimiser state.
EXTRA_KEYS_ENTRY = 'ppkpt_extra_keys'
# Extra keys recognised in .pdopt files that lack EXTRA_KEYS_ENTRY (PaddleDetection snapshots).
_LEGACY_EXTRA_KEYS = ('last_epoch',)


def _atomic_save(obj: Any, path: str) -> None:
    """``paddle.save`` to a temporary file in the same folder, then rename it onto ``path``."""
    folder = os.path.dirname(path) or '.'
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(path)}.',
                                    suffix='.tmp')
    os.close(fd)
    try:
        paddle.save(obj, tmp_path)
        with open(tmp_path, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def save_checkpoint(model_state: Mapping[str, Any], optimizer_state: Optional[Mapping[str, Any]],
                    save_dir: str, name: str, extra: Optional[Dict[str, Any]] = None) -> str:
    """Write ``{save_dir}/{name}.pdparams`` and ``{save_dir}/{name}.pdopt`` atomically.

    A crash during the write leaves the previous file of that name (if any) intact. The
    ``.pdparams`` is replaced first, then the ``.pdopt``.

    Args:
        model_state: ``model.state_dict()`` (or the EMA weights).
        optimizer_state: ``optimizer.state_dict()``; None writes only the extra entries.
        save_dir: output folder, created if needed.
        name: file stem, e.g. ``'3'``, ``'model_final'`` or ``'best_model'``.
        extra: entries stored beside the optimiser state, e.g. ``{'last_epoch': 3,
            'ema': ema.state_dict()}``; their names must not clash with optimiser keys.

    Returns:
        The path prefix ``{save_dir}/{name}`` (what :func:`load_resume` accepts).
    """
    extra = dict(extra or {})
    opt_state = dict(optimizer_state or {})
    clash = sorted(set(extra) & (set(opt_state) | {EXTRA_KEYS_ENTRY}))
    if clash:
        raise ValueError(f'save_checkpoint: extra keys {clash} clash with optimizer state keys')
    os.makedirs(save_dir, exist_ok=True)
    prefix = os.path.join(save_dir, name)
    _atomic_save(dict(model_state), prefix + '.pdparams')
    opt_state.update(extra)
    opt_state[EXTRA_KEYS_ENTRY] = sorted(extra)
    _atomic_save(opt_state, prefix + '.pdopt')
    return prefix


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


def load_resume(path_prefix: str) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """Read a snapshot written by :func:`save_checkpoint` (or a PaddleDetection one).

    Args:
        path_prefix: ``'output/x/3'``, ``'output/x/3.pdparams'`` or ``'output/x/3.pdopt'``.

    Returns:
        ``(model_state, optimizer_state, extra)``: the model ``state_dict``, the optimiser
        ``state_dict`` without extra entries, and the extra entries (``last_epoch``, ``ema``, ...).

    Raises:
        FileNotFoundError: naming the missing ``.pdparams`` or ``.pdopt`` file.
    """
    prefix = os.path.splitext(path_prefix)[0] if path_prefix.endswith(('.pdparams', '.pdopt')) \
        else path_prefix
    paths = [prefix + '.pdparams', prefix + '.pdopt']
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f'Cannot resume from {path_prefix}: missing {", ".join(missing)}')
    model_state = paddle.load(paths[0])
    opt_state = paddle.load(paths[1])
    extra_keys = opt_state.pop(EXTRA_KEYS_ENTRY, None)
    if extra_keys is None:
        extra_keys = [k for k in _LEGACY_EXTRA_KEYS if k in opt_state]
    extra = {k: opt_state.pop(k) for k in extra_keys}
    return model_state, opt_state, extra
