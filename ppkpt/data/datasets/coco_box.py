"""COCO-format box dataset for training and evaluating the person/object detector.

It reads the same ``dataset_dir`` / ``image_dir`` / ``anno_path`` as the keypoint datasets: any
COCO keypoint json works. A box comes from the annotation's ``bbox`` or, when that is missing
or empty, from the extent of its visible keypoints.
"""
import logging
import os
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.data.datasets.base import LazyImageDataset, load_json

__all__ = ['COCOBoxDataset', 'annotation_box_xywh']

logger = logging.getLogger(__name__)


def annotation_box_xywh(ann: Mapping[str, Any]) -> Optional[List[float]]:
    """The [x, y, w, h] box of a COCO annotation.

    Uses ``bbox`` when it has a positive area, else the extent of the keypoints with v > 0.

    Returns:
        [x, y, w, h] floats, or None when neither source gives a positive-area box.
    """
    bbox = ann.get('bbox')
    if bbox is not None and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0:
        return [float(v) for v in bbox]
    keypoints = ann.get('keypoints')
    if not keypoints:
        return None
    kpts = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    visible = kpts[kpts[:, 2] > 0, :2]
    if len(visible) == 0:
        return None
    x1, y1 = visible.min(axis=0)
    x2, y2 = visible.max(axis=0)
    if x2 <= x1 or y2 <= y1:
        return None
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


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
        transform: callables (or ``{Name: {args}}`` mappings) applied to each record.
        allow_empty: keep images that have no boxes.
        skip_bad_images: at parse time drop images whose file is missing, and at read time
            replace an unreadable image with the next sample (both logged) instead of raising.
    """

    __category__ = 'dataset'

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, transform: List = [],
                 allow_empty: bool = False, skip_bad_images: bool = False) -> None:
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
        data = load_json(self.get_anno(), 'COCOBoxDataset')
        for key in ('images', 'annotations', 'categories'):
            if key not in data:
                raise KeyError(f'COCOBoxDataset: {self.get_anno()} has no `{key}` list')
        self._cat_ids = sorted(int(c['id']) for c in data['categories'])
        cat_index = {cat_id: i for i, cat_id in enumerate(self._cat_ids)}
        boxes_of: Dict[int, List[List[float]]] = {}
        for i, ann in enumerate(data['annotations']):
            if ann.get('iscrowd', 0):
                continue
            if ann.get('category_id') not in cat_index:
                raise KeyError(f'COCOBoxDataset: {self.get_anno()} annotations[{i}] has '
                               f'unknown category_id {ann.get("category_id")!r}')
            box = annotation_box_xywh(ann)
            if box is not None:
                boxes_of.setdefault(int(ann['image_id']), []).append(
                    box + [float(cat_index[ann['category_id']])])
        records = []
        for img in data['images']:
            record = self._make_record(img, boxes_of.get(int(img['id']), []))
            if record is not None:
                records.append(record)
        if not records:
            raise ValueError(f'COCOBoxDataset: no usable images in {self.get_anno()}')
        return records

    def _make_record(self, img: Mapping[str, Any], boxes: List[List[float]]
                     ) -> Optional[Dict[str, Any]]:
        image_file = os.path.join(self.dataset_dir, self.image_dir, img['file_name'])
        if self.skip_bad_images and not os.path.isfile(image_file):
            logger.warning('COCOBoxDataset: skipping missing image %s', image_file)
            return None
        width, height = float(img.get('width', 0)), float(img.get('height', 0))
        rows = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
        xyxy = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        if width > 0 and height > 0:
            xyxy = np.clip(xyxy, 0, [width, height, width, height])
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        if not keep.any() and not self.allow_empty:
            return None
        return {'image_file': image_file, 'im_id': int(img['id']),
                'gt_bbox': xyxy[keep].astype(np.float32),
                'gt_class': rows[keep, 4:5].astype(np.int32)}

    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        base = self._db[idx]
        return {'image': image, 'image_file': base['image_file'], 'im_id': base['im_id'],
                'im_shape': np.asarray(image.shape[:2], dtype=np.float32),
                'scale_factor': np.ones(2, dtype=np.float32),
                'gt_bbox': base['gt_bbox'].copy(), 'gt_class': base['gt_class'].copy()}
