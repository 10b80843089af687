"""Transforms shared by every pipeline: image decoding, normalisation, layout and chaining.

Every op is a callable ``op(record) -> record`` on the record dict described in
``docs/architecture.md``.
"""
from typing import Any, Callable, Dict, List

import numpy as np

from ppkpt.core.workspace import serializable
from ppkpt.image_io import read_rgb

__all__ = ['Compose', 'Decode', 'NormalizeImage', 'Permute']

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
    """A copy of ``exc`` whose message names the failing op and image file."""
    image_file = record.get('image_file', '<no image_file>')
    message = f'{op_name} failed on {image_file}: {exc}'
    try:
        return type(exc)(message)
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
        ValueError: the file exists but cannot be decoded as an image.
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


@serializable
class NormalizeImage:
    """Normalise the image per channel: ``(image [/ 255] - mean) / std``.

    Computed in one cast and one multiply-add per pixel, ``image * scale - offset`` with
    ``scale = 1 / ([255 *] std)`` and ``offset = mean / std`` fixed at construction; the result
    matches the formula above to float32 rounding (a few 1e-7).

    Required keys: ``image`` (H, W, 3).
    Modified keys: ``image`` becomes (H, W, 3) float32.

    Args:
        mean: per-channel mean (3 values), in the 0-1 range when ``is_scale``.
        std: per-channel standard deviation (3 values, non-zero).
        is_scale: divide by 255 before subtracting the mean.
    """

    __category__ = 'transform'

    def __init__(self, mean: List[float] = [0.485, 0.456, 0.406],
                 std: List[float] = [0.229, 0.224, 0.225], is_scale: bool = True) -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'NormalizeImage mean and std need 3 values each, got mean={mean}, '
                             f'std={std}')
        if any(s == 0 for s in std):
            raise ValueError(f'NormalizeImage std must be non-zero, got {std}')
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.is_scale = is_scale
        std64 = self.std.astype(np.float64)
        self.scale = (1.0 / ((255.0 if is_scale else 1.0) * std64)).astype(np.float32)
        self.offset = (self.mean / std64).astype(np.float32)

    def __call__(self, record: Record) -> Record:
        image = record['image']
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'NormalizeImage expects an (H, W, 3) image, got {image.shape}')
        record['image'] = _scale_offset_channels(image, self.scale, self.offset)
        return record


def _scale_offset_channels(image: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``image * scale - offset`` per channel as a new C-contiguous float32 array.

    The (C,) vectors are tiled along the width so numpy works on whole rows (broadcasting a
    length-C last axis is several times slower).

    Args:
        image: (H, W, C) array of any real dtype; not modified.
        scale: (C,) float32 per-channel factors.
        offset: (C,) float32 per-channel offsets.

    Returns:
        (H, W, C) float32 array.
    """
    out = image.astype(np.float32, order='C')
    height, width, channels = out.shape
    rows = out.reshape(height, width * channels)
    rows *= np.tile(scale, width)
    rows -= np.tile(offset, width)
    return out


@serializable
class Permute:
    """Change the image layout from HWC to CHW.

    Required keys: ``image`` (H, W, C).
    Modified keys: ``image`` becomes (C, H, W) float32, contiguous.
    """

    __category__ = 'transform'

    def __call__(self, record: Record) -> Record:
        image = record['image']
        if image.ndim != 3:
            raise ValueError(f'Permute expects an (H, W, C) image, got shape {image.shape}')
        record['image'] = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        return record
