"""Finding and reading image files the same way in training, evaluation, tools and deploy
(numpy + OpenCV only)."""
import glob
import os
from typing import List, Optional, Tuple

import cv2
import numpy as np

__all__ = ['read_rgb', 'list_images', 'IMAGE_EXTENSIONS']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


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


def list_images(image_file: Optional[str], image_dir: Optional[str],
                flags: Tuple[str, str] = ('--image_file', '--image_dir')) -> List[str]:
    """``[image_file]``, or the sorted image files in ``image_dir``.

    Args:
        image_file: one image path (wins when given).
        image_dir: a folder; files with an :data:`IMAGE_EXTENSIONS` suffix are listed.
        flags: the command-line names of the two arguments, used in error messages.

    Raises:
        FileNotFoundError: the file or folder does not exist (named with its flag).
        ValueError: neither is given, or the folder holds no image.
    """
    file_flag, dir_flag = flags
    if image_file:
        if not os.path.isfile(image_file):
            raise FileNotFoundError(f'{file_flag} not found: {image_file}')
        return [image_file]
    if not image_dir:
        raise ValueError(f'give {file_flag} or {dir_flag}')
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f'{dir_flag} not found: {image_dir}')
    files = sorted(path for path in glob.glob(os.path.join(image_dir, '*'))
                   if path.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise ValueError(f'{dir_flag} {image_dir} holds no image '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return files
