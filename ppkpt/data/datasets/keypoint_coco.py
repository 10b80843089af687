"""COCO-format top-down keypoint dataset (any K: COCO-17, hands, custom objects)."""
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.data.datasets.base import KeypointTopDownBaseDataset, load_json
from ppkpt.data.datasets.coco_box import annotation_box_xywh
from ppkpt.geometry import box_to_center_scale

__all__ = ['KeypointTopDownCocoDataset']

_JITTER_PROB = 0.3


def _clean_box(box: List[float], width: float, height: float) -> Optional[List[float]]:
    """Clip an (x, y, w, h) box to the image; None when nothing is left.

    The right/bottom edge is the last pixel inside the box, as in the reference pipeline.
    """
    x, y, w, h = box
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1, x1 + max(0.0, w - 1))
    y2 = min(height - 1, y1 + max(0.0, h - 1))
    if x2 < x1 or y2 < y1:
        return None
    return [x1, y1, x2 - x1, y2 - y1]


@register
@serializable
class KeypointTopDownCocoDataset(KeypointTopDownBaseDataset):
    """Top-down records from a COCO keypoint json: one per person box.

    With ``use_gt_bbox`` the boxes are the ground-truth annotations: crowd annotations and
    annotations whose keypoints are all zero are skipped; a box is clipped to the image and
    dropped when empty or when ``area`` is 0. An annotation without ``bbox`` gets the extent of
    its visible keypoints (and ``area`` defaults to that box's area). Otherwise the boxes come
    from ``bbox_file`` (COCO results list): only ``category_id == 1`` and ``score >=
    image_thre`` are kept, ``gt_joints`` are zeros and ``joints_vis`` ones.

    Every box becomes ``center``/``scale`` padded to the ``trainsize`` aspect and enlarged by
    1.25 (:func:`ppkpt.geometry.box_to_center_scale`). See
    :class:`~ppkpt.data.datasets.base.KeypointTopDownBaseDataset` for the record keys and the
    lazy parsing.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir`` (``file_name`` is relative to it).
        anno_path: COCO keypoint json relative to ``dataset_dir``.
        num_joints: K; every annotation must have K keypoints.
        trainsize: model input size [w, h]; sets the box aspect ratio.
        transform: ops applied to each sample.
        bbox_file: detection results json, used when ``use_gt_bbox`` is false; an existing
            path is used as is, otherwise it is taken relative to ``dataset_dir``.
        use_gt_bbox: use ground-truth boxes (true) or ``bbox_file`` detections (false).
        pixel_std: pixels per ``scale`` unit.
        image_thre: minimum detection score.
        center_scale: training jitter: with probability 0.3 a sample's centre moves by
            ``center_scale * (U(0, 1) - 0.5) * [box w, box h]`` (drawn anew for each sample).
        skip_bad_images: skip unreadable images instead of raising (see the base class).
    """

    __shared__ = ['num_joints', 'trainsize', 'pixel_std']

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, num_joints: int,
                 trainsize: List[int], transform: List = [], bbox_file: Optional[str] = None,
                 use_gt_bbox: bool = True, pixel_std: int = 200, image_thre: float = 0.0,
                 center_scale: Optional[float] = None, skip_bad_images: bool = False) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, num_joints, transform,
                         skip_bad_images)
        self.trainsize = trainsize
        self.bbox_file = bbox_file
        self.use_gt_bbox = use_gt_bbox
        self.pixel_std = pixel_std
        self.image_thre = image_thre
        self.center_scale = center_scale
        self._box_sizes: List[Tuple[float, float]] = []

    # ------------------------------------------------------------------ parsing

    def _load_records(self) -> List[Dict[str, Any]]:
        if len(self.trainsize) != 2 or min(self.trainsize) <= 0:
            raise ValueError(f'{type(self).__name__}: trainsize must be [w, h] with positive '
                             f'values, got {self.trainsize}')
        data = load_json(self.get_anno(), type(self).__name__)
        for key in ('images', 'annotations'):
            if not isinstance(data, dict) or key not in data:
                raise KeyError(f'{type(self).__name__}: {self.get_anno()} has no `{key}` list')
        images = {int(img['id']): img for img in data['images']}
        entries = (self._gt_entries(data, images) if self.use_gt_bbox
                   else self._detection_entries(images))
        records = []
        self._box_sizes = []
        for box, base in entries:
            center, scale = box_to_center_scale(box, self.trainsize[0] / self.trainsize[1],
                                                float(self.pixel_std))
            base.update(center=center, scale=scale, rotate=0.0)
            records.append(base)
            self._box_sizes.append((box[2], box[3]))
        return records

    def _image_file(self, image: Mapping[str, Any]) -> str:
        return os.path.join(self.img_prefix, image['file_name'])

    def _gt_joints(self, ann: Mapping[str, Any]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(gt_joints, joints_vis), each (K, 3) float32; None when no keypoint is labelled."""
        kpts = np.asarray(ann['keypoints'], dtype=np.float32).reshape(-1, 3)
        if kpts.size == 0 or kpts.max() <= 0:
            return None
        joints = np.zeros((self.num_joints, 3), dtype=np.float32)
        joints[:, :2] = kpts[:, :2]
        vis = np.zeros((self.num_joints, 3), dtype=np.float32)
        vis[:, :2] = np.minimum(kpts[:, 2:3], 1.0)
        return joints, vis

    def _check_annotation(self, index: int, ann: Mapping[str, Any],
                          images: Mapping[int, Any]) -> None:
        ann_name = f'annotation id {ann["id"]}' if 'id' in ann else f'annotations[{index}]'
        count = len(ann['keypoints'])
        if count % 3 != 0:
            raise ValueError(f'{self.get_anno()} {ann_name} has {count} keypoint values, not '
                             f'a multiple of 3 (x, y, v)')
        if count // 3 != self.num_joints:
            raise self._joint_count_error(ann_name, count // 3)
        if int(ann.get('image_id', -1)) not in images:
            raise KeyError(f'{self.get_anno()} {ann_name} refers to image id '
                           f'{ann.get("image_id")!r}, which is not in `images`')

    def _gt_entries(self, data: Mapping[str, Any], images: Mapping[int, Any]
                    ) -> List[Tuple[List[float], Dict[str, Any]]]:
        anns_of: Dict[int, List[Mapping[str, Any]]] = {}
        for i, ann in enumerate(data['annotations']):
            if ann.get('iscrowd', 0) or 'keypoints' not in ann:
                continue
            self._check_annotation(i, ann, images)
            anns_of.setdefault(int(ann['image_id']), []).append(ann)
        entries = []
        for im_id, image in images.items():
            width = float(image.get('width', np.inf))
            height = float(image.get('height', np.inf))
            for ann in anns_of.get(im_id, []):
                entry = self._gt_entry(ann, im_id, self._image_file(image), width, height)
                if entry is not None:
                    entries.append(entry)
        return entries

    def _gt_entry(self, ann: Mapping[str, Any], im_id: int, image_file: str, width: float,
                  height: float) -> Optional[Tuple[List[float], Dict[str, Any]]]:
        joints = self._gt_joints(ann)
        box = annotation_box_xywh(ann)
        if joints is None or box is None:
            return None
        clean = _clean_box(box, width, height)
        area = float(ann.get('area', box[2] * box[3]))
        if clean is None or area <= 0:
            return None
        return clean, {'image_file': image_file, 'im_id': im_id, 'score': 1.0,
                       'gt_joints': joints[0], 'joints_vis': joints[1]}

    def _resolve_bbox_file(self) -> str:
        if not self.bbox_file:
            raise ValueError(f'{type(self).__name__}: use_gt_bbox is false but no bbox_file is '
                             f'set')
        if os.path.isfile(self.bbox_file):
            return self.bbox_file
        return os.path.join(self.dataset_dir, self.bbox_file)

    def _detection_entries(self, images: Mapping[int, Any]
                           ) -> List[Tuple[List[float], Dict[str, Any]]]:
        path = self._resolve_bbox_file()
        detections = load_json(path, type(self).__name__)
        if not isinstance(detections, list):
            raise ValueError(f'{type(self).__name__}: {path} must be a list of detections')
        entries = []
        for i, det in enumerate(detections):
            if det.get('category_id') != 1 or float(det.get('score', 0.0)) < self.image_thre:
                continue
            box = [float(v) for v in det['bbox']]
            if box[2] <= 0 or box[3] <= 0:
                continue
            entries.append((box, self._detection_record(i, det, images, path)))
        return entries

    def _detection_record(self, index: int, det: Mapping[str, Any],
                          images: Mapping[int, Any], path: str) -> Dict[str, Any]:
        im_id = int(det['image_id'])
        if 'filename' in det:
            image_file = os.path.join(self.img_prefix, det['filename'])
        elif im_id in images:
            image_file = self._image_file(images[im_id])
        else:
            raise KeyError(f'{path} detection {index} has image id {im_id}, which is not in '
                           f'{self.get_anno()}, and no `filename`')
        return {'image_file': image_file, 'im_id': im_id, 'score': float(det['score']),
                'gt_joints': np.zeros((self.num_joints, 3), dtype=np.float32),
                'joints_vis': np.ones((self.num_joints, 3), dtype=np.float32)}

    # ------------------------------------------------------------------ sampling

    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        sample = super()._sample(idx, image)
        if self.center_scale and np.random.rand() < _JITTER_PROB:
            box_wh = np.asarray(self._box_sizes[idx], dtype=np.float32)
            shift = self.center_scale * (np.random.rand(2) - 0.5) * box_wh
            sample['center'] = (sample['center'] + shift).astype(np.float32)
        return sample
