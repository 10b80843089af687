"""Rebuild PaddleDetection reference fixtures that are too big to ship.

The fixtures in tests/data/ppdet_numeric (see tests/data/MANIFEST.md) ship meta.json and a
subset of the reference outputs. Their weights.pdparams and input.npy are not shipped: these
helpers redraw both from the recipe the fixtures document, and the tests check them against
digests of the original files. tests/data/ppdet_keys holds PaddleDetection's state_dict
listings (``name<TAB>shape<TAB>dtype`` after a ``#`` header).
"""
import hashlib
import io
import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import paddle.nn as nn

DATA = Path(__file__).resolve().parent / 'data'
KEYS_DIR = DATA / 'ppdet_keys'
NUMERIC_DIR = DATA / 'ppdet_numeric'
MEAN = np.array([0.485, 0.456, 0.406])[:, None, None]
STD = np.array([0.229, 0.224, 0.225])[:, None, None]

Entry = Tuple[str, List[int], str]


def state_entries(layer: nn.Layer) -> List[Entry]:
    """``(name, shape, dtype)`` of every state_dict entry of ``layer``, in order."""
    return [(name, list(t.shape), str(t.dtype).replace('paddle.', ''))
            for name, t in layer.state_dict().items()]


def read_keys(stem: str) -> Tuple[Dict[str, str], List[Entry]]:
    """The header fields and the entries of ``ppdet_keys/<stem>.txt``."""
    lines = (KEYS_DIR / f'{stem}.txt').read_text().splitlines()
    header = dict(item.split('=', 1) for item in lines[0].lstrip('# ').split())
    entries = []
    for line in lines[1:]:
        name, shape, dtype = line.split('\t')
        entries.append((name, [int(v) for v in shape.split(',')], dtype))
    return header, entries


def read_meta(stem: str) -> dict:
    """``ppdet_numeric/<stem>/meta.json``."""
    return json.loads((NUMERIC_DIR / stem / 'meta.json').read_text())


def _upsample_corners(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """(gh, gw) -> (height, width), linear along W then H with the corners aligned."""
    xs = np.linspace(0, grid.shape[1] - 1, width)
    ys = np.linspace(0, grid.shape[0] - 1, height)
    rows = np.stack([np.interp(xs, np.arange(grid.shape[1]), row) for row in grid])
    return np.stack([np.interp(ys, np.arange(grid.shape[0]), col) for col in rows.T]).T


def recipe_input(batch: int, height: int, width: int) -> np.ndarray:
    """A fixture's input.npy [batch, 3, H, W], redrawn from meta.json's ``input_generation``.

    ``default_rng(7)`` draws the coarse grids of the whole batch, then its noise.
    """
    rng = np.random.default_rng(7)
    coarse = rng.uniform(0.0, 1.0, (batch, 3, height // 16 + 1, width // 16 + 1))
    noise = rng.uniform(0.0, 1.0, (batch, 3, height, width))
    blobs = np.stack([np.stack([_upsample_corners(c, height, width) for c in image])
                      for image in coarse])
    gradient = np.linspace(0, 1, height)[:, None] * np.linspace(1, 0, width)[None, :]
    image = np.clip(0.6 * blobs + 0.25 * gradient + 0.15 * noise, 0, 1)
    return ((image - MEAN) / STD).astype(np.float32)


def recipe_weights(model: nn.Layer, gain: float) -> Dict[str, np.ndarray]:
    """A fixture's weights.pdparams, redrawn from its recipe in state_dict order.

    ``default_rng(2024)``: BatchNorm ``weight`` and ``_variance`` ~ U(0.5, 1.5), its ``bias``
    and ``_mean`` ~ N(0, 0.1); conv weights ~ gain * N(0, 1 / sqrt(fan_in)); everything else
    (biases) ~ N(0, 0.05).
    """
    norm_entries = {f'{prefix}.{key}' for prefix, layer in model.named_sublayers()
                    if isinstance(layer, nn.BatchNorm2D) for key in layer.state_dict()}
    rng = np.random.default_rng(2024)
    state = {}
    for name, tensor in model.state_dict().items():
        shape, leaf = tuple(tensor.shape), name.rsplit('.', 1)[1]
        if name in norm_entries and leaf in ('weight', '_variance'):
            values = rng.uniform(0.5, 1.5, shape)
        elif name in norm_entries:
            values = rng.normal(0.0, 0.1, shape)
        elif leaf == 'weight':
            unit = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[1:])), shape)
            values = unit.astype(np.float32).astype(np.float64) * gain
        else:
            values = rng.normal(0.0, 0.05, shape)
        state[name] = values.astype(np.float32)
    return state


def state_digest(state: Dict[str, np.ndarray]) -> str:
    """sha256 over (name + b'\\0' + float32 bytes) of every entry, in order."""
    digest = hashlib.sha256()
    for name, values in state.items():
        digest.update(name.encode() + b'\0')
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def npy_sha256(array: np.ndarray) -> str:
    """sha256 of the bytes ``np.save`` writes for ``array`` (the digest meta.json lists)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return hashlib.sha256(buffer.getvalue()).hexdigest()
