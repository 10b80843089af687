"""COCO-format box dataset for training and evaluating the person/object detector.

It reads the same ``dataset_dir`` / ``image_dir`` / ``anno_path`` as the keypoint datasets: any
COCO keypoint json works. A box comes from the annotation's ``bbox`` or, when that is missing
or empty, from the extent of its visible keypoints.
"""
import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.data.coco import CocoImageRecord, image_records, load_coco
from ppkpt.data.datasets.base import LazyImageDataset

__all__ = ['COCOBoxDataset']

logger = logging.getLogger(__name__)


@register
@serializable
class COCOBoxDataset(LazyImageDataset):
    """Images with their object boxes from a COCO json (keypoint or detection).

    Parsing happens on first use; the constructor touches no files. Crowd annotations and
    annotations without a usable box are skipped.

    Each sample is a record dict:
        ``image`` (H, W, 3) uint8 RGB, ``image_file`` str, ``im_id`` int,
        ``im_shape`` (2,) float32 [h, w], ``scale_factor`` (2,) float32 [1, 1],
        ``gt_bbox`` (M, 4) float32 x1 y1 x2 y2 in pixels, ``gt_class`` (M, 1) int32 class index
        0..C-1 (categories sorted by id); then ``transform`` is applied in order.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir``.
        anno_path: COCO json relative to ``dataset_dir``.
        transform: built ops (callables) applied to each record.
        allow_empty: keep images that have no boxes.
        skip_bad_images: at parse time drop images whose file is missing, and at read time
            replace an unreadable image with the next sample (both logged) instead of raising.
    """

    __category__ = 'dataset'

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str,
                 transform: List[Callable] = [], allow_empty: bool = False,
                 skip_bad_images: bool = False) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, transform, skip_bad_images)
        self.allow_empty = allow_empty
        self._cat_ids: List[int] = []

    @property
    def records(self) -> List[Dict[str, Any]]:
        """Parsed records without images (parses the json on first access)."""
        return self.db

    @property
    def cat_ids(self) -> List[int]:
        """COCO category ids in class-index order."""
        self.parse_dataset()
        return list(self._cat_ids)

    @property
    def num_classes(self) -> int:
        """Number of categories C."""
        return len(self.cat_ids)

    def _load_records(self) -> List[Dict[str, Any]]:
        coco = load_coco(self.get_anno(), owner='COCOBoxDataset')
        if not coco.categories:
            raise KeyError(f'COCOBoxDataset: {self.get_anno()} has no `categories` list')
        self._cat_ids = sorted(coco.categories)
        cat_index = {cat_id: i for i, cat_id in enumerate(self._cat_ids)}
        records = []
        for image in image_records(coco, self.img_prefix):
            record = self._make_record(image, cat_index)
            if record is not None:
                records.append(record)
        if not records:
            raise ValueError(f'COCOBoxDataset: no usable images in {self.get_anno()}')
        return records

    @staticmethod
    def _boxes(image: CocoImageRecord, cat_index: Mapping[int, int]) -> np.ndarray:
        """(M, 5) float32 rows [x, y, w, h, class index] of the image's non-crowd boxes."""
        rows = [instance['bbox'] + [float(cat_index[instance['category_id']])]
                for instance in image['instances']
                if not instance['iscrowd'] and instance['bbox'] is not None]
        return np.asarray(rows, dtype=np.float32).reshape(-1, 5)

    def _make_record(self, image: CocoImageRecord, cat_index: Mapping[int, int]
                     ) -> Optional[Dict[str, Any]]:
        if self.skip_bad_images and not os.path.isfile(image['image_file']):
            logger.warning('COCOBoxDataset: skipping missing image %s', image['image_file'])
            return None
        rows = self._boxes(image, cat_index)
        xyxy = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        width, height = image['width'] or 0.0, image['height'] or 0.0
        if width > 0 and height > 0:
            xyxy = np.clip(xyxy, 0, [width, height, width, height])
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        if not keep.any() and not self.allow_empty:
            return None
        return {'image_file': image['image_file'], 'im_id': image['im_id'],
                'gt_bbox': xyxy[keep].astype(np.float32),
                'gt_class': rows[keep, 4:5].astype(np.int32)}

    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        base = self._db[idx]
        return {'image': image, 'image_file': base['image_file'], 'im_id': base['im_id'],
                'im_shape': np.asarray(image.shape[:2], dtype=np.float32),
                'scale_factor': np.ones(2, dtype=np.float32),
                'gt_bbox': base['gt_bbox'].copy(), 'gt_class': base['gt_class'].copy()}
