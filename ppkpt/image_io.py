"""Reading image files the same way in training, evaluation and deploy (numpy + OpenCV only)."""
import os

import cv2
import numpy as np

__all__ = ['read_rgb']


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array (EXIF orientation is ignored).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` cannot be decoded as an image.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Image file not found: {path}')
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ValueError(f'Cannot decode image file (corrupt or not an image): {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
