"""Top-down records: one person (or object) box per record, built from per-image records.

:func:`ppkpt.data.coco.image_records` gives one record per image; :class:`TopDownExpansion`
turns those (or detected boxes) into the records of the top-down datasets. numpy and
:mod:`ppkpt.geometry` only; nothing here imports paddle.

A top-down record has the keys ``image_file`` str, ``im_id`` int, ``center`` (2,) float32
pixels, ``scale`` (2,) float32 in ``pixel_std`` units, ``rotate`` 0.0, ``score`` float,
``gt_joints`` (K, 3) float32 (x, y, 0) and ``joints_vis`` (K, 3) float32 (0/1 in columns 0
and 1).
"""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ppkpt.data.coco import CocoImageRecord, CocoInstance
from ppkpt.geometry import box_to_center_scale, clip_box_xywh

__all__ = ['DetectedBox', 'TopDownEntry', 'TopDownExpansion', 'topdown_joints',
           'topdown_record']


def topdown_record(image_file: str, im_id: int, center: np.ndarray, scale: np.ndarray,
                   score: float, gt_joints: np.ndarray, joints_vis: np.ndarray
                   ) -> Dict[str, Any]:
    """A top-down record (see the module docstring for the keys) with ``rotate`` 0.

    Args:
        image_file: image path.
        im_id: image id.
        center: (2,) float32 box centre in pixels.
        scale: (2,) float32 box size in ``pixel_std`` units.
        score: box score (1.0 for ground truth).
        gt_joints: (K, 3) float32 joints (x, y, 0).
        joints_vis: (K, 3) float32 visibility.
    """
    return {'image_file': image_file, 'im_id': im_id, 'center': center, 'scale': scale,
            'rotate': 0.0, 'score': score, 'gt_joints': gt_joints, 'joints_vis': joints_vis}


def topdown_joints(xy: np.ndarray, visibility: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``gt_joints`` and ``joints_vis`` of a record from joint positions and flags.

    Args:
        xy: (K, 2) joints (x, y) in pixels.
        visibility: (K,) flags; any value above 1 (COCO's v = 2) counts as 1.

    Returns:
        gt_joints: (K, 3) float32 (x, y, 0).
        joints_vis: (K, 3) float32 (min(v, 1), min(v, 1), 0).
    """
    num_joints = len(xy)
    gt_joints = np.zeros((num_joints, 3), dtype=np.float32)
    gt_joints[:, :2] = xy
    joints_vis = np.zeros((num_joints, 3), dtype=np.float32)
    joints_vis[:, :2] = np.minimum(visibility, 1.0)[:, None]
    return gt_joints, joints_vis


class TopDownEntry(NamedTuple):
    """A top-down record with the size of the box it was made from.

    Attributes:
        record: the record (see the module docstring).
        box_wh: (w, h) in pixels of the (clipped) box, for centre jitter.
    """

    record: Dict[str, Any]
    box_wh: Tuple[float, float]


class DetectedBox(NamedTuple):
    """A detector box to expand into a top-down record.

    Attributes:
        image_file: image path.
        im_id: image id.
        bbox: [x, y, w, h] in pixels, positive w and h.
        score: detection score.
    """

    image_file: str
    im_id: int
    bbox: List[float]
    score: float


class TopDownExpansion:
    """Expands boxes into top-down records.

    Every box becomes ``center``/``scale`` padded to ``aspect_ratio`` and enlarged by 1.25
    (:func:`ppkpt.geometry.box_to_center_scale`).

    Args:
        num_joints: K.
        aspect_ratio: model input width / height.
        pixel_std: pixels per ``scale`` unit.
    """

    def __init__(self, num_joints: int, aspect_ratio: float, pixel_std: float) -> None:
        self.num_joints = num_joints
        self.aspect_ratio = aspect_ratio
        self.pixel_std = pixel_std

    def _entry(self, image_file: str, im_id: int, box: List[float], score: float,
               joints: Tuple[np.ndarray, np.ndarray]) -> TopDownEntry:
        center, scale = box_to_center_scale(box, self.aspect_ratio, self.pixel_std)
        record = topdown_record(image_file, im_id, center, scale, score, *joints)
        return TopDownEntry(record, (box[2], box[3]))

    def instance_entry(self, image: CocoImageRecord, instance: CocoInstance
                       ) -> Optional[TopDownEntry]:
        """The entry of one ground-truth instance, or None when it is not usable.

        An instance is skipped when it is a crowd region, has no keypoints or only zero
        ones, has no box, its box clipped to the image (:func:`ppkpt.geometry.clip_box_xywh`,
        no clipping where the size is unknown) is empty, or its ``area`` is 0.

        Raises:
            ValueError: when the keypoints are not (K, 3): parse the file with
                ``num_joints=K`` (:func:`ppkpt.data.coco.load_coco`) to get a message that
                names the annotation.
        """
        keypoints = instance['keypoints']
        if instance['iscrowd'] or keypoints is None or not np.any(keypoints > 0):
            return None
        if keypoints.shape != (self.num_joints, 3):
            raise ValueError(f'{image["image_file"]}: instance {instance["id"]} has keypoints '
                             f'of shape {keypoints.shape}, expected ({self.num_joints}, 3)')
        box = instance['bbox']
        if box is None or instance['area'] <= 0:
            return None
        width, height = (np.inf if size is None else size
                         for size in (image['width'], image['height']))
        clipped = clip_box_xywh(box, width, height)
        if clipped is None:
            return None
        return self._entry(image['image_file'], image['im_id'], clipped, instance['score'],
                           topdown_joints(keypoints[:, :2], keypoints[:, 2]))

    def ground_truth(self, images: Sequence[CocoImageRecord]) -> List[TopDownEntry]:
        """One entry per usable instance (:meth:`instance_entry`), images and instances in
        order."""
        entries = (self.instance_entry(image, instance)
                   for image in images for instance in image['instances'])
        return [entry for entry in entries if entry is not None]

    def detections(self, boxes: Sequence[DetectedBox]) -> List[TopDownEntry]:
        """One entry per box, in order, with zero ``gt_joints`` and ``joints_vis`` all ones."""
        return [self._entry(box.image_file, box.im_id, box.bbox, box.score,
                            (np.zeros((self.num_joints, 3), dtype=np.float32),
                             np.ones((self.num_joints, 3), dtype=np.float32)))
                for box in boxes]
