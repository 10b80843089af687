"""Transforms shared by every pipeline: chaining and image decoding.

Normalisation and layout live in :mod:`ppkpt.data.transforms.preprocess` with the rest of the
deterministic preprocessing that deploy shares.

Every op is a callable ``op(record) -> record`` on the record dict described in
``docs/architecture.md``.
"""
import copy
from typing import Any, Callable, Dict, List

import numpy as np

from ppkpt.core.workspace import serializable
from ppkpt.image_io import read_rgb

__all__ = ['Compose', 'Decode']

Record = Dict[str, Any]


class Compose:
    """Apply ops to a record in order.

    When an op raises, the error is raised again (with the same type where possible) with a
    message that names the op and the record's ``image_file``.

    Args:
        ops: callables ``op(record) -> record``.
    """

    def __init__(self, ops: List[Callable[[Record], Record]]) -> None:
        for i, op in enumerate(ops):
            if not callable(op):
                raise TypeError(f'Compose ops[{i}] is not callable: {op!r}')
        self.ops = list(ops)

    def __call__(self, record: Record) -> Record:
        for op in self.ops:
            try:
                record = op(record)
            except Exception as exc:
                raise _with_context(exc, type(op).__name__, record) from exc
        return record

    def __repr__(self) -> str:
        return f'Compose([{", ".join(type(op).__name__ for op in self.ops)}])'


def _with_context(exc: Exception, op_name: str, record: Record) -> Exception:
    """A copy of ``exc`` (same type and attributes, e.g. ``ImageReadError.path``) whose message
    names the failing op and image file."""
    image_file = record.get('image_file', '<no image_file>')
    message = f'{op_name} failed on {image_file}: {exc}'
    try:
        context = copy.copy(exc)
        context.args = (message,)
        return context
    except Exception:
        return RuntimeError(message)


@serializable
class Decode:
    """Read the record's image file as an RGB uint8 array.

    A record that already holds an ``image`` array keeps it (deployment passes arrays).

    Required keys: ``image_file`` (unless ``image`` is present).
    Added keys: ``image`` (H, W, 3) uint8 RGB, ``im_shape`` (2,) float32 (h, w).

    Raises:
        FileNotFoundError: the file does not exist.
        ppkpt.image_io.ImageReadError: (a ValueError) the file is empty, truncated or cannot
            be decoded; it names the file (see :func:`ppkpt.image_io.read_rgb`).
    """

    __category__ = 'transform'

    def __call__(self, record: Record) -> Record:
        image = record.get('image')
        if image is None:
            if 'image_file' not in record:
                raise KeyError('Decode needs `image_file` (or an `image` array) in the record')
            image = read_rgb(record['image_file'])
        elif not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
            raise ValueError(f'record image must be an (H, W, 3) array, got '
                             f'{getattr(image, "shape", type(image))}')
        record['image'] = image
        record['im_shape'] = np.array(image.shape[:2], dtype=np.float32)
        return record
