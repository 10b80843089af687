"""Shared machinery of the image datasets: lazy parsing, checks, image reading."""
import logging
import multiprocessing
import os
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from paddle.io import Dataset

from ppkpt.data.transforms.common import Compose
from ppkpt.image_io import ImageReadError, read_rgb

__all__ = ['LazyImageDataset', 'KeypointTopDownBaseDataset', 'check_ops']

logger = logging.getLogger(__name__)

_ARRAY_KEYS = ('center', 'scale', 'gt_joints', 'joints_vis')
_UNREADABLE = (OSError, ImageReadError)
"""What ``skip_bad_images`` skips: a missing or unopenable file, or one that is empty,
truncated or undecodable. Any other error (a failing transform) always propagates."""


def check_ops(transform: Optional[Sequence[Callable]], owner: str) -> List[Callable]:
    """Check that a transform list holds built ops and return it as a new list.

    Ops are built from the config by the reader (it has the run's config); a dataset only
    takes callables.

    Args:
        transform: callables ``op(record) -> record``; None or empty for none.
        owner: class name used in error messages.

    Raises:
        TypeError: naming ``owner.transform[i]`` when an entry is not callable (for instance
            an ``{OpName: {args}}`` mapping).
    """
    ops = list(transform or [])
    for i, op in enumerate(ops):
        if not callable(op):
            raise TypeError(f'{owner}.transform[{i}] is not callable: {op!r} (datasets take '
                            f'built ops; the reader builds them from the config)')
    return ops


class LazyImageDataset(Dataset, metaclass=ABCMeta):
    """Base class of the datasets that read an annotation file and one image per record.

    The constructor only stores its arguments. The annotation file is parsed by
    :meth:`_load_records` on the first ``__len__``, ``__getitem__`` or :meth:`parse_dataset`
    call. A sample is the stored record (arrays copied by :meth:`_sample`) plus ``image``
    (H, W, 3) uint8 RGB, passed through the transforms in order. Images are read with
    :func:`ppkpt.image_io.read_rgb`: a missing file raises ``FileNotFoundError``, an empty,
    truncated or undecodable one :class:`~ppkpt.image_io.ImageReadError`, both naming it.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir``.
        anno_path: annotation file relative to ``dataset_dir``.
        transform: built ops (callables) applied to each sample, in order.
        skip_bad_images: when an image cannot be read, log a warning naming the file, count
            it in ``num_skipped`` and return the next readable sample instead of raising.

    Attributes:
        num_skipped: number of unreadable images skipped so far (with ``skip_bad_images``),
            summed over this process and its DataLoader worker processes.
    """

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str,
                 transform: List[Callable] = [], skip_bad_images: bool = False) -> None:
        super().__init__()
        self.dataset_dir = dataset_dir
        self.image_dir = image_dir
        self.anno_path = anno_path
        self.transform = check_ops(transform, type(self).__name__)
        self.skip_bad_images = skip_bad_images
        self._skipped = multiprocessing.Value('q', 0)  # shared with forked loader workers
        self._db: Optional[List[Dict[str, Any]]] = None

    @property
    def num_skipped(self) -> int:
        """Unreadable images skipped so far, in this process and its loader workers."""
        return self._skipped.value

    @property
    def img_prefix(self) -> str:
        """Folder the image file names are relative to."""
        return os.path.join(self.dataset_dir, self.image_dir)

    def get_anno(self) -> str:
        """Full path of the annotation file."""
        return os.path.join(self.dataset_dir, self.anno_path)

    def set_transform(self, ops: List[Callable]) -> None:
        """Replace the transforms with built ops (callables); TypeError names a bad index."""
        self.transform = check_ops(ops, type(self).__name__)

    def parse_dataset(self) -> None:
        """Parse the annotations and check the images (only the first call does work).

        Raises:
            FileNotFoundError: the annotation file or an image file is missing (named).
            ValueError: an annotation is inconsistent (file and id named).
        """
        if self._db is not None:
            return
        anno = self.get_anno()
        if not os.path.isfile(anno):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file not found: {anno}')
        records = self._load_records()
        self._check_images(records)
        if not records:
            raise ValueError(f'{type(self).__name__}: no usable instances in {anno}')
        self._db = records

    @property
    def db(self) -> List[Dict[str, Any]]:
        """Parsed records without images (parses on first access)."""
        self.parse_dataset()
        return self._db

    def __len__(self) -> int:
        return len(self.db)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        size = len(self)
        if not -size <= idx < size:
            raise IndexError(f'{type(self).__name__} index {idx} out of range for {size} samples')
        idx %= size
        attempts = size if self.skip_bad_images else 1
        for step in range(attempts):
            current = (idx + step) % size
            image = self._read_image(current)
            if image is not None:
                return self._apply_transforms(self._sample(current, image))
        raise RuntimeError(f'{type(self).__name__}: no readable image among the {size} samples '
                           f'of {self.get_anno()}')

    def image_file(self, idx: int) -> str:
        """The image file of sample ``idx``."""
        return self.db[idx]['image_file']

    def _read_image(self, idx: int) -> Optional[np.ndarray]:
        """The image of record ``idx``, or None when it is unreadable and ``skip_bad_images``
        is set (the skip is counted and logged with the file's name); else the error
        propagates."""
        path = self._db[idx]['image_file']
        try:
            return read_rgb(path)
        except _UNREADABLE as exc:
            if not self.skip_bad_images:
                raise
            with self._skipped.get_lock():
                self._skipped.value += 1
            logger.warning('%s: skipping unreadable image %s (sample %d): %s',
                           type(self).__name__, path, idx, exc)
            return None

    # ------------------------------------------------------------------ subclass hooks

    @abstractmethod
    def _load_records(self) -> List[Dict[str, Any]]:
        """Parse the annotation file into records without images."""

    def _check_images(self, records: List[Dict[str, Any]]) -> None:
        """Check the records' image files at parse time; by default they are read lazily."""

    @abstractmethod
    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        """A fresh sample dict for record ``idx`` with its ``image``."""

    def _apply_transforms(self, sample: Dict[str, Any]) -> Dict[str, Any]:
        """Run the transforms; an error names the failing op and the image file."""
        return Compose(self.transform)(sample)


class KeypointTopDownBaseDataset(LazyImageDataset):
    """Base class of the top-down datasets: one record per annotated (or detected) instance.

    The constructor only stores its arguments. Annotations are parsed, and every referenced
    image file is checked to exist, on the first ``__len__``, ``__getitem__`` or
    :meth:`parse_dataset` call. Subclasses implement :meth:`_load_records`, building the
    records with :mod:`ppkpt.data.topdown_records` (COCO files: per-image records from
    :func:`ppkpt.data.coco.image_records`, expanded by
    :class:`~ppkpt.data.topdown_records.TopDownExpansion`).

    A sample is the stored record plus ``image`` (H, W, 3) uint8 RGB, with its arrays copied,
    passed through the transforms in order. Record keys: ``image_file`` str, ``im_id`` int,
    ``center`` (2,) float32 pixels, ``scale`` (2,) float32 in ``pixel_std`` units,
    ``rotate`` 0.0, ``score`` float, ``gt_joints`` (K, 3) float32 (x, y, 0),
    ``joints_vis`` (K, 3) float32 (0/1 in columns 0 and 1).

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir``.
        anno_path: annotation file relative to ``dataset_dir``.
        num_joints: K, the number of joints every annotation must have.
        transform: built ops (callables) applied to each sample, in order.
        skip_bad_images: when an image cannot be read, log a warning naming the file, count
            it in ``num_skipped`` and return the next readable sample instead of raising.

    Attributes:
        num_skipped: number of unreadable images skipped so far (with ``skip_bad_images``),
            summed over this process and its DataLoader worker processes.
    """

    __category__ = 'dataset'

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, num_joints: int,
                 transform: List[Callable] = [], skip_bad_images: bool = False) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, transform, skip_bad_images)
        self.num_joints = num_joints

    # ------------------------------------------------------------------ internals

    def _check_images(self, records: List[Dict[str, Any]]) -> None:
        """Raise for the first record whose image file does not exist (unless skipping), so a
        missing image is reported before the first training step."""
        if self.skip_bad_images:
            return
        checked = set()
        for record in records:
            path = record['image_file']
            if path in checked:
                continue
            if not os.path.isfile(path):
                raise FileNotFoundError(f'image not found: {path} (referenced by image id '
                                        f'{record["im_id"]} in {self.get_anno()})')
            checked.add(path)

    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        """A fresh sample dict: the record with its arrays copied, plus the image."""
        record = self._db[idx]
        sample = {key: (value.copy() if key in _ARRAY_KEYS else value)
                  for key, value in record.items()}
        sample['image'] = image
        return sample
