"""Per-sample training ops for box detection records (flip, crop, CenterNet targets).

The detector resize (``DetResize``) is shared with deploy and lives in
:mod:`ppkpt.data.transforms.preprocess`.

Boxes are ``gt_bbox`` (M, 4) float32 x1 y1 x2 y2 in pixels of the current ``image``, whose
pixel (i, j) covers [j, j + 1) x [i, i + 1); a horizontal flip maps x to ``W - x``.
"""
import math
from typing import Any, Dict, Tuple

import numpy as np

from ppkpt.core.workspace import serializable

__all__ = ['RandomHFlipBox', 'RandomCropBox', 'CenterNetTarget',
           'gaussian_radius', 'draw_gaussian']

Record = Dict[str, Any]


def _require(record: Record, keys: Tuple[str, ...], op: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise KeyError(f'{op}: record of {record.get("image_file", "<unknown image>")} '
                       f'is missing {missing}')


def _boxes(record: Record) -> np.ndarray:
    return np.asarray(record.get('gt_bbox', np.zeros((0, 4))), dtype=np.float32).reshape(-1, 4)


def _clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    return np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)


@serializable
class RandomHFlipBox:
    """Flip the image and its boxes horizontally with probability ``prob``.

    Required keys: ``image`` (H, W, C). Modified: ``image``, ``gt_bbox`` (x -> W - x).

    Args:
        prob: flip probability.
    """

    __category__ = 'transform'

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'RandomHFlipBox.prob must be in [0, 1], got {prob}')
        self.prob = prob

    def __call__(self, record: Record) -> Record:
        _require(record, ('image',), 'RandomHFlipBox')
        if np.random.rand() >= self.prob:
            return record
        image = record['image']
        width = image.shape[1]
        record['image'] = np.ascontiguousarray(image[:, ::-1])
        if 'gt_bbox' in record:
            boxes = _boxes(record)
            record['gt_bbox'] = np.stack([width - boxes[:, 2], boxes[:, 1],
                                          width - boxes[:, 0], boxes[:, 3]], axis=1)
        return record


@serializable
class RandomCropBox:
    """Crop a random window with sides in [min_scale, 1] of the image, with probability ``prob``.

    Boxes whose centre falls outside the window are dropped; the others are shifted and
    clipped. A crop that would drop every box is not applied.

    Required keys: ``image`` (H, W, C), ``gt_bbox`` (M, 4), ``gt_class`` (M, 1).
    Modified: ``image`` (h, w, C), ``gt_bbox``, ``gt_class``.

    Args:
        min_scale: smallest crop side as a fraction of the image side.
        prob: crop probability.
    """

    __category__ = 'transform'

    def __init__(self, min_scale: float = 0.6, prob: float = 0.5) -> None:
        if not 0.0 < min_scale <= 1.0 or not 0.0 <= prob <= 1.0:
            raise ValueError(f'RandomCropBox: need 0 < min_scale <= 1 and 0 <= prob <= 1, got '
                             f'min_scale={min_scale}, prob={prob}')
        self.min_scale = min_scale
        self.prob = prob

    def _window(self, height: int, width: int) -> Tuple[int, int, int, int]:
        crop_w = max(1, int(width * np.random.uniform(self.min_scale, 1.0)))
        crop_h = max(1, int(height * np.random.uniform(self.min_scale, 1.0)))
        x0 = np.random.randint(0, width - crop_w + 1)
        y0 = np.random.randint(0, height - crop_h + 1)
        return x0, y0, crop_w, crop_h

    def __call__(self, record: Record) -> Record:
        _require(record, ('image', 'gt_bbox', 'gt_class'), 'RandomCropBox')
        boxes = _boxes(record)
        if np.random.rand() >= self.prob or len(boxes) == 0:
            return record
        image = record['image']
        x0, y0, crop_w, crop_h = self._window(*image.shape[:2])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        keep = ((centres[:, 0] >= x0) & (centres[:, 0] < x0 + crop_w)
                & (centres[:, 1] >= y0) & (centres[:, 1] < y0 + crop_h))
        if not keep.any():
            return record
        shifted = boxes[keep] - np.asarray([x0, y0, x0, y0], dtype=np.float32)
        record['image'] = np.ascontiguousarray(image[y0:y0 + crop_h, x0:x0 + crop_w])
        record['gt_bbox'] = _clip_boxes(shifted, crop_w, crop_h)
        record['gt_class'] = np.asarray(record['gt_class']).reshape(-1, 1)[keep]
        return record


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius for a box of ``height`` x ``width``.

    The smallest of the three CornerNet cases (both corners inside, outside, or one of each)
    so that a box whose corners move by the radius keeps IoU >= ``min_overlap``. As in the
    CenterNet reference implementation, each root is (b + sqrt(b^2 - 4ac)) / 2.
    """
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: np.ndarray, center: Tuple[int, int], radius: int) -> np.ndarray:
    """Max-paste a gaussian (sigma = (2 * radius + 1) / 6, peak 1) into ``heatmap`` (H, W).

    Args:
        heatmap: (H, W) float32 map, modified in place.
        center: integer (x, y) of the peak.
        radius: gaussian half-size in pixels.

    Returns:
        ``heatmap``.
    """
    sigma = (2 * radius + 1) / 6.0
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    gaussian = np.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma ** 2))
    height, width = heatmap.shape
    x, y = center
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return heatmap
    region = heatmap[y - top:y + bottom, x - left:x + right]
    patch = gaussian[radius - top:radius + bottom, radius - left:radius + right]
    np.maximum(region, patch, out=region)
    return heatmap


@serializable
class CenterNetTarget:
    """Build CenterNet training targets at 1 / ``down_ratio`` of the input size.

    Place it after the geometric ops and before ``Permute``. Boxes beyond ``max_objs`` are
    dropped; the per-object arrays are zero-padded to ``max_objs`` so batches collate.

    Required keys: ``image`` (H, W, C) with H and W divisible by ``down_ratio``, ``gt_bbox``
    (M, 4), ``gt_class`` (M, 1) int in [0, num_classes). Removed: ``gt_bbox``, ``gt_class``.
    Added: ``heatmap`` (C, H/d, W/d) float32, ``size`` (max_objs, 2) float32 box (w, h) in
    output pixels, ``offset`` (max_objs, 2) float32 centre minus its integer cell, ``index``
    (max_objs,) int64 flat cell ``y * (W/d) + x``, ``index_mask`` (max_objs,) float32.

    Args:
        num_classes: number of heatmap channels C.
        down_ratio: input pixels per output pixel d.
        max_objs: fixed number of object slots.
        min_overlap: IoU used by :func:`gaussian_radius`.
    """

    __category__ = 'transform'
    __shared__ = ['num_classes']

    def __init__(self, num_classes: int = 1, down_ratio: int = 4, max_objs: int = 32,
                 min_overlap: float = 0.7) -> None:
        if num_classes < 1 or down_ratio < 1 or max_objs < 1:
            raise ValueError(f'CenterNetTarget: num_classes, down_ratio and max_objs must be '
                             f'>= 1, got {num_classes}, {down_ratio}, {max_objs}')
        self.num_classes = num_classes
        self.down_ratio = down_ratio
        self.max_objs = max_objs
        self.min_overlap = min_overlap

    def _output_size(self, record: Record) -> Tuple[int, int]:
        height, width = record['image'].shape[:2]
        if height % self.down_ratio or width % self.down_ratio:
            raise ValueError(f'CenterNetTarget: image {record.get("image_file")} is '
                             f'{width}x{height}, not divisible by down_ratio {self.down_ratio}')
        return height // self.down_ratio, width // self.down_ratio

    def _classes(self, record: Record, count: int) -> np.ndarray:
        classes = np.asarray(record['gt_class']).reshape(-1).astype(np.int64)
        if len(classes) != count:
            raise ValueError(f'CenterNetTarget: {record.get("image_file")} has {count} boxes '
                             f'but {len(classes)} classes')
        bad = np.flatnonzero((classes < 0) | (classes >= self.num_classes))
        if len(bad):
            raise ValueError(f'CenterNetTarget: {record.get("image_file")} gt_class[{bad[0]}] = '
                             f'{classes[bad[0]]} is outside [0, {self.num_classes})')
        return classes

    def __call__(self, record: Record) -> Record:
        _require(record, ('image', 'gt_bbox', 'gt_class'), 'CenterNetTarget')
        out_h, out_w = self._output_size(record)
        boxes = _clip_boxes(_boxes(record) / self.down_ratio, out_w, out_h)
        classes = self._classes(record, len(boxes))
        heatmap = np.zeros((self.num_classes, out_h, out_w), dtype=np.float32)
        size = np.zeros((self.max_objs, 2), dtype=np.float32)
        offset = np.zeros((self.max_objs, 2), dtype=np.float32)
        index = np.zeros((self.max_objs,), dtype=np.int64)
        mask = np.zeros((self.max_objs,), dtype=np.float32)
        slot = 0
        for box, cls in zip(boxes, classes):
            box_w, box_h = box[2] - box[0], box[3] - box[1]
            if box_w <= 0 or box_h <= 0 or slot >= self.max_objs:
                continue
            centre = np.asarray([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
            cell = np.minimum(centre.astype(np.int64), [out_w - 1, out_h - 1])
            radius = max(0, int(gaussian_radius(math.ceil(box_h), math.ceil(box_w),
                                                self.min_overlap)))
            draw_gaussian(heatmap[cls], (int(cell[0]), int(cell[1])), radius)
            size[slot] = box_w, box_h
            offset[slot] = centre - cell
            index[slot] = cell[1] * out_w + cell[0]
            mask[slot] = 1.0
            slot += 1
        record.pop('gt_bbox')
        record.pop('gt_class')
        record.update(heatmap=heatmap, size=size, offset=offset, index=index, index_mask=mask)
        return record
