"""Top-down (one person per sample) augmentation, cropping and target generation.

:class:`GenerateTarget` also encodes bottom-up records (all people of an image, see
:mod:`ppkpt.data.transforms.bottomup`).

Every op is a callable ``op(record) -> record`` on the record dict described in
``docs/architecture.md``: ``image`` (H, W, 3) uint8 RGB, ``center`` (2,) pixels, ``scale`` (2,)
in ``pixel_std`` units, ``rotate`` degrees, ``gt_joints`` (K, 3) and ``joints_vis`` (K, 3) with
0/1 in columns 0 and 1. Random ops draw from numpy's global generator (``np.random``), so
seeding it makes a run reproducible. Ops never modify arrays in place; they store new ones.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppkpt.codecs.base import KeypointCodec
from ppkpt.core.workspace import serializable
from ppkpt.geometry import (affine_transform_points, box_to_center_scale, crop_matrix,
                            flip_permutation)

__all__ = [
    'RandomFlipHalfBodyTransform', 'TopDownRandomFlip', 'TopDownRandomShiftBboxCenter',
    'TopDownGetRandomScaleRotation', 'TopDownAffine', 'GenerateTarget', 'flip_joints',
    'half_body_center_scale',
]

Record = Dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _check_size(size: Sequence[int], name: str) -> List[int]:
    if len(size) != 2 or any(v <= 0 for v in size):
        raise ValueError(f'{name} must be [w, h] with positive values, got {size!r}')
    return [int(v) for v in size]


def _check_pairs(pairs: Sequence[Sequence[int]], name: str) -> List[List[int]]:
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or any(int(v) < 0 for v in pair):
            raise ValueError(f'{name}[{i}] must be a [left, right] pair of joint indices, '
                             f'got {pair!r}')
    return [[int(a), int(b)] for a, b in pairs]


def _check_probability(value: float, name: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name} must be in [0, 1], got {value}')
    return float(value)


def flip_joints(joints: np.ndarray, joints_vis: np.ndarray, width: int,
                flip_pairs: Sequence[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """Mirror joints for an image flipped left-right.

    ``x`` becomes ``width - 1 - x``, the joints of every [left, right] pair swap, and invisible
    joints are zeroed.

    Args:
        joints: (K, 2|3) joints (x, y[, z]) in pixels.
        joints_vis: (K, 3) visibility (0/1 in columns 0 and 1).
        width: image width W in pixels.
        flip_pairs: (P, 2) joint index pairs; may be empty.

    Returns:
        joints: (K, 2|3) flipped joints, float32.
        joints_vis: (K, 3) permuted visibility, float32.
    """
    perm = flip_permutation(flip_pairs, joints.shape[0])
    flipped = np.array(joints, dtype=np.float32)[perm]
    vis = np.array(joints_vis, dtype=np.float32)[perm]
    flipped[:, 0] = width - 1 - flipped[:, 0]
    flipped[:, :2] *= vis[:, :2]
    return flipped, vis


def _flip_center(center: np.ndarray, width: int) -> np.ndarray:
    return np.array([width - 1 - center[0], center[1]], dtype=np.float32)


def _joints_box_center_scale(points: np.ndarray, aspect_ratio: float,
                             pixel_std: float) -> Tuple[np.ndarray, np.ndarray]:
    """Centre (mean of the points) and 1.5x scale of their box padded to ``aspect_ratio``."""
    width, height = points.max(axis=0) - points.min(axis=0)
    _, scale = box_to_center_scale([0.0, 0.0, width, height], aspect_ratio, pixel_std,
                                   padding=1.5)
    return points.mean(axis=0).astype(np.float32), scale


def half_body_center_scale(joints: np.ndarray, joints_vis: np.ndarray,
                           upper_body_ids: Sequence[int], aspect_ratio: float,
                           pixel_std: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Random half-body box: the upper or the lower visible joints.

    The upper half is chosen when ``np.random.randn() < 0.5`` (about 69 %) and it has more than
    two visible joints; otherwise the lower half if it has more than two, else the upper one.

    Args:
        joints: (K, 2|3) joints in pixels.
        joints_vis: (K, 3) visibility.
        upper_body_ids: indices of the upper-body joints; all others are lower body.
        aspect_ratio: crop width / height.
        pixel_std: pixels per scale unit.

    Returns:
        ``(center (2,), scale (2,))`` float32, or None when the chosen half has fewer than two
        visible joints.
    """
    visible = np.asarray(joints_vis)[:, 0] > 0
    is_upper = np.zeros(len(visible), dtype=bool)
    is_upper[list(upper_body_ids)] = True
    upper = np.asarray(joints)[visible & is_upper, :2]
    lower = np.asarray(joints)[visible & ~is_upper, :2]
    if np.random.randn() < 0.5 and len(upper) > 2:
        chosen = upper
    else:
        chosen = lower if len(lower) > 2 else upper
    if len(chosen) < 2:
        return None
    return _joints_box_center_scale(chosen.astype(np.float64), aspect_ratio, pixel_std)


def _random_scale_rotation(scale: np.ndarray, scale_factor: float, rot_factor: float,
                           rot_prob: float) -> Tuple[np.ndarray, float]:
    """Random zoom and rotation of a box.

    The scale is multiplied by ``clip(1 + sf * N(0, 1), 1 - sf, 1 + sf)``; the rotation is
    ``clip(rf * N(0, 1), -2 rf, 2 rf)`` with probability ``rot_prob``, else 0.

    Returns:
        scale: (2,) float32 new scale.
        rotate: rotation in degrees.
    """
    zoom = np.clip(np.random.randn() * scale_factor + 1.0, 1.0 - scale_factor, 1.0 + scale_factor)
    rotate = 0.0
    if np.random.rand() < rot_prob:
        rotate = float(np.clip(np.random.randn() * rot_factor, -2.0 * rot_factor,
                               2.0 * rot_factor))
    return (np.asarray(scale, dtype=np.float32) * zoom).astype(np.float32), rotate


def _warp(image: np.ndarray, mat: np.ndarray, trainsize: Sequence[int]) -> np.ndarray:
    return cv2.warpAffine(image, mat, (int(trainsize[0]), int(trainsize[1])),
                          flags=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- random ops


@serializable
class RandomFlipHalfBodyTransform:
    """Half-body box, random scale and rotation, then a random left-right flip.

    1. If more than ``num_joints_half_body`` joints are visible, with probability
       ``prob_half_body`` the box becomes the 1.5x padded box of the upper or lower visible
       joints (:func:`half_body_center_scale`).
    2. ``scale *= clip(1 + scale * N(0,1), 1 - scale, 1 + scale)``; with probability
       ``rot_prob`` ``rotate = clip(rot * N(0,1), -2 rot, 2 rot)``, else 0.
    3. If ``flip``, with probability 0.5 the image, joints (``x -> W - 1 - x``, pairs swapped)
       and centre are mirrored.

    Required keys: ``image``, ``gt_joints``, ``joints_vis``, ``center``, ``scale``.
    Modified keys: ``image``, ``gt_joints``, ``joints_vis``, ``center``, ``scale``.
    Added keys: ``rotate`` (float degrees).

    Args:
        trainsize: crop size [w, h]; sets the half-body box aspect ratio.
        upper_body_ids: upper-body joint indices (shared with the top-level key).
        flip_pairs: [left, right] joint index pairs swapped by a flip.
        pixel_std: pixels per scale unit.
        scale: scale jitter factor.
        rot: rotation factor in degrees.
        num_joints_half_body: half-body needs more visible joints than this.
        prob_half_body: probability of trying the half-body box.
        flip: enable the random flip.
        rot_prob: probability of a non-zero rotation.
    """

    __category__ = 'transform'
    __shared__ = {'trainsize': 'trainsize', 'flip_pairs': 'flip_perm',
                  'upper_body_ids': 'upper_body_ids', 'pixel_std': 'pixel_std'}

    def __init__(self, trainsize: List[int], flip_pairs: List[List[int]],
                 upper_body_ids: Optional[List[int]] = None, pixel_std: float = 200,
                 scale: float = 0.35, rot: float = 40, num_joints_half_body: int = 8,
                 prob_half_body: float = 0.3, flip: bool = True, rot_prob: float = 0.6) -> None:
        self.trainsize = _check_size(trainsize, 'RandomFlipHalfBodyTransform.trainsize')
        self.flip_pairs = _check_pairs(flip_pairs, 'RandomFlipHalfBodyTransform.flip_pairs')
        self.prob_half_body = _check_probability(prob_half_body,
                                                 'RandomFlipHalfBodyTransform.prob_half_body')
        if upper_body_ids is None and self.prob_half_body > 0:
            raise ValueError('RandomFlipHalfBodyTransform.upper_body_ids is required when '
                             'prob_half_body > 0 (set it here or as the top-level key)')
        self.upper_body_ids = [int(i) for i in upper_body_ids or []]
        self.pixel_std = float(pixel_std)
        self.scale = float(scale)
        self.rot = float(rot)
        self.num_joints_half_body = num_joints_half_body
        self.flip = flip
        self.rot_prob = _check_probability(rot_prob, 'RandomFlipHalfBodyTransform.rot_prob')
        self.aspect_ratio = self.trainsize[0] / self.trainsize[1]

    def __call__(self, record: Record) -> Record:
        joints, joints_vis = record['gt_joints'], record['joints_vis']
        center = np.asarray(record['center'], dtype=np.float32)
        scale = np.asarray(record['scale'], dtype=np.float32)
        if (np.sum(joints_vis[:, 0]) > self.num_joints_half_body
                and np.random.rand() < self.prob_half_body):
            self._check_upper_ids(joints.shape[0])
            half = half_body_center_scale(joints, joints_vis, self.upper_body_ids,
                                          self.aspect_ratio, self.pixel_std)
            if half is not None:
                center, scale = half
        scale, rotate = _random_scale_rotation(scale, self.scale, self.rot, self.rot_prob)
        image = record['image']
        if self.flip and np.random.rand() < 0.5:
            width = image.shape[1]
            image = np.ascontiguousarray(image[:, ::-1])
            joints, joints_vis = flip_joints(joints, joints_vis, width, self.flip_pairs)
            center = _flip_center(center, width)
        record.update(image=image, gt_joints=joints, joints_vis=joints_vis, center=center,
                      scale=scale, rotate=rotate)
        return record

    def _check_upper_ids(self, num_joints: int) -> None:
        bad = [i for i in self.upper_body_ids if i >= num_joints]
        if bad:
            raise ValueError(f'RandomFlipHalfBodyTransform.upper_body_ids has index {bad[0]} '
                             f'but the record has {num_joints} joints')


@serializable
class TopDownRandomFlip:
    """Mirror the image, joints and centre left-right with probability ``flip_prob``.

    Required keys: ``image``, ``gt_joints``, ``joints_vis``, ``center``.
    Modified keys: ``image``, ``gt_joints`` (``x -> W - 1 - x``, pairs swapped, invisible
    zeroed), ``joints_vis`` (pairs swapped), ``center``.

    Args:
        flip_perm: [left, right] joint index pairs (shared with the top-level key); may be empty.
        flip_prob: probability of flipping.
    """

    __category__ = 'transform'
    __shared__ = ['flip_perm']

    def __init__(self, flip_perm: List[List[int]] = [], flip_prob: float = 0.5) -> None:
        self.flip_perm = _check_pairs(flip_perm, 'TopDownRandomFlip.flip_perm')
        self.flip_prob = _check_probability(flip_prob, 'TopDownRandomFlip.flip_prob')

    def __call__(self, record: Record) -> Record:
        if np.random.rand() >= self.flip_prob:
            return record
        image = record['image']
        width = image.shape[1]
        joints, joints_vis = flip_joints(record['gt_joints'], record['joints_vis'], width,
                                         self.flip_perm)
        record.update(image=np.ascontiguousarray(image[:, ::-1]), gt_joints=joints,
                      joints_vis=joints_vis,
                      center=_flip_center(np.asarray(record['center']), width))
        return record


@serializable
class TopDownRandomShiftBboxCenter:
    """Shift the box centre by up to ``shift_factor`` of the box size, with ``shift_prob``.

    ``center += U(-1, 1)^2 * shift_factor * scale * pixel_std``.

    Required keys: ``center``, ``scale``.
    Modified keys: ``center``.

    Args:
        shift_factor: maximum shift as a fraction of the box size.
        shift_prob: probability of shifting.
        pixel_std: pixels per scale unit.
    """

    __category__ = 'transform'
    __shared__ = ['pixel_std']

    def __init__(self, shift_factor: float = 0.16, shift_prob: float = 0.3,
                 pixel_std: float = 200) -> None:
        self.shift_factor = float(shift_factor)
        self.shift_prob = _check_probability(shift_prob, 'TopDownRandomShiftBboxCenter.shift_prob')
        self.pixel_std = float(pixel_std)

    def __call__(self, record: Record) -> Record:
        if np.random.rand() < self.shift_prob:
            box = np.asarray(record['scale'], dtype=np.float32) * self.pixel_std
            shift = np.random.uniform(-1.0, 1.0, 2) * self.shift_factor * box
            record['center'] = (np.asarray(record['center'], dtype=np.float32)
                                + shift).astype(np.float32)
        return record


@serializable
class TopDownGetRandomScaleRotation:
    """Random box scale and rotation.

    ``scale *= clip(1 + sf * N(0,1), 1 - sf, 1 + sf)``; with probability ``rot_prob``
    ``rotate = clip(rf * N(0,1), -2 rf, 2 rf)``, else 0.

    Required keys: ``scale``.
    Modified keys: ``scale``. Added keys: ``rotate``.

    Args:
        rot_factor: rotation factor rf in degrees.
        scale_factor: scale factor sf.
        rot_prob: probability of a non-zero rotation.
    """

    __category__ = 'transform'

    def __init__(self, rot_factor: float = 40, scale_factor: float = 0.5,
                 rot_prob: float = 0.6) -> None:
        self.rot_factor = float(rot_factor)
        self.scale_factor = float(scale_factor)
        self.rot_prob = _check_probability(rot_prob, 'TopDownGetRandomScaleRotation.rot_prob')

    def __call__(self, record: Record) -> Record:
        scale, rotate = _random_scale_rotation(record['scale'], self.scale_factor,
                                               self.rot_factor, self.rot_prob)
        record.update(scale=scale, rotate=rotate)
        return record


# --------------------------------------------------------------------------- crops


@serializable
class TopDownAffine:
    """Crop the (rotated) box to the codec's input size and move the joints into crop pixels.

    The box centre lands on the crop centre; the crop uses the UDP matrix when the codec is
    UDP. Only visible joints are transformed; invisible ones stay where they are (their weight
    is 0 downstream).

    Required keys: ``image``, ``center``, ``scale``; optional ``rotate`` (default 0),
    ``gt_joints`` and ``joints_vis``.
    Modified keys: ``image`` becomes (h, w, 3) with [w, h] = ``codec.input_size``;
    ``gt_joints``.

    Args:
        codec: the run's codec (the top-level ``codec:`` key).
        pixel_std: pixels per scale unit.
    """

    __category__ = 'transform'
    __shared__ = ['codec', 'pixel_std']
    __shared_only__ = ['codec']
    __moved__ = {'trainsize': 'trainsize (the codec input_size)', 'use_udp': 'codec.target_type'}

    def __init__(self, codec: KeypointCodec, pixel_std: float = 200) -> None:
        self.trainsize = [int(v) for v in codec.input_size]
        self.use_udp = bool(getattr(codec, 'use_udp', False))
        self.pixel_std = float(pixel_std)

    def __call__(self, record: Record) -> Record:
        scale_px = np.asarray(record['scale'], dtype=np.float64) * self.pixel_std
        mat = crop_matrix(record['center'], scale_px, float(record.get('rotate', 0.0)),
                          self.trainsize, use_udp=self.use_udp)
        record['image'] = _warp(record['image'], mat, self.trainsize)
        if 'gt_joints' in record:
            joints = np.array(record['gt_joints'], dtype=np.float32)
            visible = np.asarray(record['joints_vis'])[:, 0] > 0
            joints[visible, :2] = affine_transform_points(joints[visible, :2], mat)
            record['gt_joints'] = joints
        return record


# --------------------------------------------------------------------------- targets


@serializable
class GenerateTarget:
    """Encode the record's joints into training targets with the run's codec.

    Top-down records hold one instance: ``gt_joints`` (K, 3) and ``joints_vis`` (K, 3) in crop
    pixels (``target`` (K, H, W) and ``target_weight`` (K, 1) for the heatmap codec).
    Bottom-up records hold all M people of an image: ``gt_joints`` (M, K, 3) (x, y, v) in input
    pixels, v > 0 for labelled joints, M may be 0 (``heatmap_gt1x``, ``heatmap_gt2x`` and
    ``tagmap`` for the associative-embedding codec). A bottom-up record's ``mask_1x`` /
    ``mask_2x`` (from ``RandomAffine``) must have the size of the matching ``heatmap_gt*``.

    Required keys: ``gt_joints``; ``joints_vis`` for a top-down record.
    Added keys: the codec's target arrays. Removed keys: ``gt_joints``, ``joints_vis``.

    Args:
        codec: the run's codec (the top-level ``codec:`` key).
    """

    __category__ = 'transform'
    __shared__ = ['codec']
    __shared_only__ = ['codec']

    def __init__(self, codec: KeypointCodec) -> None:
        self.codec = codec

    def __call__(self, record: Record) -> Record:
        joints = np.asarray(record.pop('gt_joints'))
        if joints.ndim == 3:
            targets = self.codec.encode(joints[..., :2], joints[..., 2] > 0)
            _check_mask_sizes(record, targets)
        else:
            visible = np.asarray(record.pop('joints_vis'))[:, 0]
            targets = self.codec.encode(joints[None, :, :2], visible[None])
        record.update(targets)
        return record


def _check_mask_sizes(record: Record, targets: Dict[str, np.ndarray]) -> None:
    """Raise ValueError when a ``mask_<s>`` (H, W) of the record differs in size from the
    codec's ``heatmap_gt<s>`` (K, H, W)."""
    for key, heatmap in targets.items():
        if not key.startswith('heatmap_gt'):
            continue
        mask_key = 'mask_' + key[len('heatmap_gt'):]
        mask = record.get(mask_key)
        if mask is not None and np.shape(mask) != heatmap.shape[1:]:
            raise ValueError(f'{mask_key} has shape {np.shape(mask)} but the codec makes {key} '
                             f'maps of {heatmap.shape[1:]}; RandomAffine trainsize / hmsize '
                             f'must match the codec input size and strides')
