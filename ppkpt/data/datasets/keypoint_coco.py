"""COCO-format top-down keypoint dataset (any K: COCO-17, hands, custom objects)."""
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.data.coco import CocoFile, image_records, load_coco, load_coco_results
from ppkpt.data.datasets.base import KeypointTopDownBaseDataset
from ppkpt.data.topdown_records import DetectedBox, TopDownEntry, TopDownExpansion

__all__ = ['KeypointTopDownCocoDataset']

_JITTER_PROB = 0.3


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

    The json is parsed into per-image records (:func:`ppkpt.data.coco.image_records`) and
    every box becomes ``center``/``scale`` padded to the ``trainsize`` aspect and enlarged by
    1.25 (:class:`ppkpt.data.topdown_records.TopDownExpansion`). See
    :class:`~ppkpt.data.datasets.base.KeypointTopDownBaseDataset` for the record keys and the
    lazy parsing.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir`` (``file_name`` is relative to it).
        anno_path: COCO keypoint json relative to ``dataset_dir``.
        num_joints: K; every annotation must have K keypoints.
        trainsize: model input size [w, h]; sets the box aspect ratio.
        transform: built ops (callables) applied to each sample.
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
                 trainsize: List[int], transform: List[Callable] = [],
                 bbox_file: Optional[str] = None,
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
        coco = load_coco(self.get_anno(), self.num_joints, type(self).__name__)
        expansion = TopDownExpansion(self.num_joints, self.trainsize[0] / self.trainsize[1],
                                     float(self.pixel_std))
        entries: List[TopDownEntry] = (
            expansion.ground_truth(image_records(coco, self.img_prefix)) if self.use_gt_bbox
            else expansion.detections(self._detected_boxes(coco)))
        self._box_sizes = [entry.box_wh for entry in entries]
        return [entry.record for entry in entries]

    def _resolve_bbox_file(self) -> str:
        if not self.bbox_file:
            raise ValueError(f'{type(self).__name__}: use_gt_bbox is false but no bbox_file is '
                             f'set')
        if os.path.isfile(self.bbox_file):
            return self.bbox_file
        return os.path.join(self.dataset_dir, self.bbox_file)

    def _detected_boxes(self, coco: CocoFile) -> List[DetectedBox]:
        """The person detections of ``bbox_file`` with ``score >= image_thre`` and a
        positive-area box, in file order."""
        path = self._resolve_bbox_file()
        boxes = []
        for i, det in enumerate(load_coco_results(path, type(self).__name__)):
            if det.get('category_id') != 1 or float(det.get('score', 0.0)) < self.image_thre:
                continue
            box = [float(v) for v in det['bbox']]
            if box[2] <= 0 or box[3] <= 0:
                continue
            boxes.append(DetectedBox(self._detection_image_file(i, det, coco, path),
                                     int(det['image_id']), box, float(det['score'])))
        return boxes

    def _detection_image_file(self, index: int, det: Mapping[str, Any], coco: CocoFile,
                              path: str) -> str:
        """The image of a detection: its ``filename``, else its image id's ``file_name``."""
        im_id = int(det['image_id'])
        if 'filename' in det:
            return os.path.join(self.img_prefix, det['filename'])
        if im_id in coco.images:
            return os.path.join(self.img_prefix, coco.images[im_id]['file_name'])
        raise KeyError(f'{path} detection {index} has image id {im_id}, which is not in '
                       f'{self.get_anno()}, and no `filename`')

    # ------------------------------------------------------------------ sampling

    def _sample(self, idx: int, image: np.ndarray) -> Dict[str, Any]:
        sample = super()._sample(idx, image)
        if self.center_scale and np.random.rand() < _JITTER_PROB:
            box_wh = np.asarray(self._box_sizes[idx], dtype=np.float32)
            shift = self.center_scale * (np.random.rand(2) - 0.5) * box_wh
            sample['center'] = (sample['center'] + shift).astype(np.float32)
        return sample
