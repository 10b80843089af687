"""Finding and reading image files the same way in training, evaluation, tools and deploy
(numpy + OpenCV only).

:func:`read_rgb` is the one image reader. A file that exists but is empty, truncated or not an
image raises :class:`ImageReadError` naming it, whatever the OpenCV version does with such
bytes (older builds decode a cut JPEG into a half-grey picture; an empty buffer makes
``cv2.imdecode`` raise a bare ``cv2.error`` that names no file).
"""
import glob
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

__all__ = ['ImageReadError', 'read_rgb', 'list_images', 'IMAGE_EXTENSIONS']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')

_JPEG_SOI = b'\xff\xd8'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_EOI, _JPEG_SOS = 0xD9, 0xDA
_JPEG_NO_LENGTH = frozenset([0x01, 0xD8, *range(0xD0, 0xD8)])  # TEM, SOI, RST0-7
_JPEG_MARKER = re.compile(rb'\xff+(.)', re.DOTALL)
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or RST0-7; anything else
# starts the next marker.
_JPEG_SCAN_END = re.compile(rb'\xff[^\x00\xd0-\xd7\xff]')
_PNG_CHUNK_OVERHEAD = 12  # length, type, CRC


class ImageReadError(ValueError):
    """An image file exists but cannot be read as an image: empty, truncated or undecodable.

    Args:
        path: the file.
        reason: what is wrong with it.

    Attributes:
        path: the file.
        reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'cannot read image {path}: {reason}')
        self.path = path
        self.reason = reason

    def __reduce__(self) -> Tuple[type, Tuple[str, str], Dict[str, Any]]:
        """Pickle with both arguments (and the attributes), so the error crosses processes."""
        return type(self), (self.path, self.reason), self.__dict__


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array (EXIF orientation is ignored).

    Raises:
        FileNotFoundError: ``path`` does not exist (named in the message).
        ImageReadError: ``path`` cannot be opened, is empty (0 bytes), is a JPEG without its
            end-of-image marker or a PNG without its IEND chunk (truncated), or cannot be
            decoded.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Image file not found: {path}')
    data = _read_bytes(path)
    if not data:
        raise ImageReadError(path, 'empty file (0 bytes)')
    truncation = _truncation(data)
    if truncation:
        raise ImageReadError(path, truncation)
    return cv2.cvtColor(_decode_bgr(path, data), cv2.COLOR_BGR2RGB)


def _read_bytes(path: str) -> bytes:
    """The bytes of ``path``; an OSError (permissions, I/O) becomes an ImageReadError."""
    try:
        with open(path, 'rb') as file:
            return file.read()
    except OSError as exc:
        raise ImageReadError(path, f'cannot open it ({exc.strerror or exc})') from exc


def _decode_bgr(path: str, data: bytes) -> np.ndarray:
    """Decode ``data`` as a 3-channel BGR image, or raise an ImageReadError naming ``path``."""
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8),
                             cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise ImageReadError(path, f'OpenCV cannot decode it ({exc})') from exc
    if image is None:
        raise ImageReadError(path, f'not a decodable image ({len(data)} bytes: corrupt, '
                                   f'truncated or not an image)')
    return image


def _truncation(data: bytes) -> Optional[str]:
    """Why ``data`` is a truncated JPEG or PNG, or None (complete, or another format)."""
    if data.startswith(_JPEG_SOI) and _jpeg_is_truncated(data):
        return f'truncated JPEG ({len(data)} bytes, no end-of-image marker FF D9)'
    if data.startswith(_PNG_SIGNATURE) and _png_is_truncated(data):
        return f'truncated PNG ({len(data)} bytes, no IEND chunk)'
    return None


def _jpeg_is_truncated(data: bytes) -> bool:
    """Whether the JPEG marker walk runs out of bytes before the end-of-image marker.

    Segments are skipped by their length (so an EXIF thumbnail's own markers do not count),
    entropy-coded data up to the next marker that is not a restart marker; bytes after the
    end-of-image marker are ignored. A malformed structure is left to the decoder (False).
    """
    pos = len(_JPEG_SOI)
    while True:
        marker = _JPEG_MARKER.match(data, pos)
        if marker is None:
            return not data[pos:].strip(b'\xff')
        code, pos = marker.group(1)[0], marker.end()
        if code in (_JPEG_EOI, 0x00):  # the end, or not a marker: leave it to the decoder
            return False
        if code in _JPEG_NO_LENGTH:
            continue
        if pos + 2 > len(data):
            return True
        pos += int.from_bytes(data[pos:pos + 2], 'big')
        if pos > len(data):
            return True
        if code == _JPEG_SOS:
            scan_end = _JPEG_SCAN_END.search(data, pos)
            if scan_end is None:
                return True
            pos = scan_end.start()


def _png_is_truncated(data: bytes) -> bool:
    """Whether the PNG chunk list ends (or a chunk is cut) before a complete IEND chunk."""
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        end = pos + _PNG_CHUNK_OVERHEAD + int.from_bytes(data[pos:pos + 4], 'big')
        if end > len(data):
            return True
        if data[pos + 4:pos + 8] == b'IEND':
            return False
        pos = end
    return True


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
