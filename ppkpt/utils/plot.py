"""Small line charts drawn with OpenCV (no plotting library needed)."""
from typing import Dict, List, Sequence

import cv2
import numpy as np

_COLORS = [(200, 80, 30), (30, 140, 40), (40, 40, 200), (150, 60, 150)]


def plot_curves(curves: Dict[str, Sequence[float]], path: str, width: int = 640,
                height: int = 240) -> np.ndarray:
    """Draw each named series in its own panel, stacked vertically, and save a PNG.

    Args:
        curves: name -> values (e.g. ``{'loss': [...], 'eval AP': [...]}``).
        path: where the PNG goes.

    Returns:
        The image, (P * height, width, 3) uint8 BGR.
    """
    panels = [_panel(name, list(values), _COLORS[i % len(_COLORS)], width, height)
              for i, (name, values) in enumerate(curves.items())]
    image = np.concatenate(panels, axis=0)
    cv2.imwrite(path, image)
    return image


def _panel(name: str, values: List[float], color: tuple, width: int, height: int) -> np.ndarray:
    panel = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 15, 28, 25
    cv2.rectangle(panel, (left, top), (width - right, height - bottom), (180, 180, 180), 1)
    finite = [v for v in values if np.isfinite(v)]
    if finite:
        low, high = min(finite), max(finite)
        span = (high - low) or 1.0
        xs = np.linspace(left, width - right, num=max(len(values), 2))[:len(values)]
        ys = height - bottom - (np.asarray(values, float) - low) / span * (height - top - bottom)
        points = np.stack([xs, ys], axis=1).round().astype(np.int32)
        if len(points) == 1:
            cv2.circle(panel, tuple(points[0]), 3, color, -1)
        cv2.polylines(panel, [points], False, color, 2, cv2.LINE_AA)
        for value, y in ((high, top), (low, height - bottom)):
            cv2.putText(panel, f'{value:.4g}', (2, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (60, 60, 60), 1, cv2.LINE_AA)
        last = f'last {values[-1]:.4g}'
    else:
        last = 'no finite values'
    cv2.putText(panel, f'{name} ({len(values)} points, {last})', (left, 18),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return panel
