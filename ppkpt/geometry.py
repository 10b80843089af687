"""Affine geometry shared by training, evaluation and deployment (numpy and cv2 only).

Conventions:
    * ``center`` is (x, y) in image pixels.
    * ``scale`` is (w, h) in units of ``pixel_std`` (200 px); ``scale_px = scale * pixel_std`` is
      the box size in pixels.
    * Sizes (``output_size``, ``size_input``, ...) are (w, h).
    * A matrix is (2, 3) and maps a column vector (x, y, 1) to (x', y').

Two families of crop transforms exist:
    * :func:`get_affine_transform` (the classic HRNet crop): only the box width sets the zoom, so
      boxes are padded to the output aspect ratio beforehand (:func:`box_to_center_scale`).
    * :func:`get_warp_matrix` (UDP, unbiased data processing): sizes are measured between pixel
      centres, so an output of ``n`` pixels spans ``n - 1`` units.

:func:`crop_matrix` picks one of them from a ``use_udp`` flag; every crop (training, evaluation,
deployment) and its inverse (:func:`transform_preds`) goes through it.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'get_affine_transform', 'get_warp_matrix', 'crop_matrix', 'affine_transform_points',
    'transform_preds', 'box_to_center_scale', 'center_scale_to_box', 'clip_box_xywh',
    'flip_permutation',
]

ArrayLike = Union[np.ndarray, Sequence[float]]


def _as_pair(value: Union[float, ArrayLike], name: str) -> np.ndarray:
    """Return ``value`` as a float64 (2,) array; a scalar is repeated."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.array([arr, arr], dtype=np.float64)
    if arr.shape != (2,):
        raise ValueError(f'{name} must be a scalar or have shape (2,), got shape {arr.shape}')
    return arr


def _rotate(vec: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotate a (2,) vector by ``angle_rad`` in the image plane (x right, y down)."""
    cos, sin = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([vec[0] * cos - vec[1] * sin, vec[0] * sin + vec[1] * cos])


def _third_point(origin: np.ndarray, tip: np.ndarray) -> np.ndarray:
    """A point that forms a right angle at ``tip`` with ``origin`` (same arm length)."""
    arm = origin - tip
    return tip + np.array([-arm[1], arm[0]])


def get_affine_transform(center: ArrayLike, scale_px: Union[float, ArrayLike], rot_deg: float,
                         output_size: ArrayLike, shift: ArrayLike = (0.0, 0.0),
                         inv: bool = False) -> np.ndarray:
    """Matrix that crops a rotated box from the image into an ``output_size`` canvas.

    Three point pairs are matched: the box centre goes to the canvas centre, and the point half
    a box width above the centre (rotated by ``rot_deg``) goes to the point half a canvas width
    above the canvas centre. Only the box *width* therefore sets the zoom; pad boxes to the
    output aspect ratio first. A positive ``rot_deg`` shows the content turned counter-clockwise
    in the crop: at 90 degrees an image point right of the centre lands above the canvas centre.

    Args:
        center: (2,) box centre (x, y) in image pixels.
        scale_px: (2,) box size (w, h) in pixels, or a scalar for a square box.
        rot_deg: box rotation in degrees.
        output_size: (2,) canvas size (w, h) in pixels.
        shift: (2,) offset of the box centre as a fraction of the box size.
        inv: return the canvas-to-image matrix instead.

    Returns:
        (2, 3) float64 matrix mapping image pixels to canvas pixels (or back if ``inv``).
    """
    box = _as_pair(scale_px, 'scale_px')
    dst_w, dst_h = _as_pair(output_size, 'output_size')
    src_up = _rotate(np.array([0.0, -0.5 * box[0]]), math.radians(rot_deg))
    dst_up = np.array([0.0, -0.5 * dst_w])

    src_center = _as_pair(center, 'center') + box * _as_pair(shift, 'shift')
    dst_center = np.array([0.5 * dst_w, 0.5 * dst_h])
    src = np.stack([src_center, src_center + src_up,
                    _third_point(src_center, src_center + src_up)]).astype(np.float32)
    dst = np.stack([dst_center, dst_center + dst_up,
                    _third_point(dst_center, dst_center + dst_up)]).astype(np.float32)
    if inv:
        return cv2.getAffineTransform(dst, src).astype(np.float64)
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def get_warp_matrix(theta_deg: float, size_input: ArrayLike, size_dst: ArrayLike,
                    size_target: ArrayLike) -> np.ndarray:
    """Closed-form UDP crop matrix.

    The point ``size_input / 2`` (the box centre) goes to ``size_target / 2``, the plane is
    rotated by ``theta_deg`` about it, and the result is scaled per axis by
    ``size_dst / size_target``. Call it as
    ``get_warp_matrix(rot, center * 2, output_size - 1, scale_px)``.

    A positive ``theta_deg`` shows the content turned clockwise, the opposite sense to
    :func:`get_affine_transform` (this matches the published UDP form). Training draws
    rotations symmetrically, so the two are interchangeable there, and evaluation uses none.

    Args:
        theta_deg: rotation in degrees.
        size_input: (2,) twice the box centre, (2 * cx, 2 * cy).
        size_dst: (2,) output size minus one, (w - 1, h - 1).
        size_target: (2,) box size (w, h) in pixels.

    Returns:
        (2, 3) float64 matrix mapping image pixels to output pixels.
    """
    theta = math.radians(theta_deg)
    cos, sin = math.cos(theta), math.sin(theta)
    half_input = 0.5 * _as_pair(size_input, 'size_input')
    target = _as_pair(size_target, 'size_target')
    zoom = _as_pair(size_dst, 'size_dst') / target
    rotation = np.array([[cos, -sin], [sin, cos]])
    linear = zoom[:, None] * rotation
    offset = zoom * (0.5 * target - rotation @ half_input)
    return np.concatenate([linear, offset[:, None]], axis=1)


def crop_matrix(center: ArrayLike, scale_px: Union[float, ArrayLike], rot_deg: float,
                output_size: ArrayLike, use_udp: bool = False, inv: bool = False) -> np.ndarray:
    """Matrix that crops the (rotated) box ``center``/``scale_px`` into an ``output_size`` canvas.

    The classic crop is :func:`get_affine_transform` (no shift); the UDP crop is
    :func:`get_warp_matrix` with the box centre doubled and ``output_size - 1`` spacing. Mind
    that the two turn the content in opposite senses for the same ``rot_deg``.

    Args:
        center: (2,) box centre (x, y) in image pixels.
        scale_px: (2,) box size (w, h) in pixels (``scale * pixel_std``), or a scalar for a
            square box.
        rot_deg: box rotation in degrees.
        output_size: (2,) canvas size (w, h) in pixels.
        use_udp: build the UDP matrix instead of the classic one.
        inv: return the canvas-to-image matrix instead (the classic crop solves for it
            directly, the UDP one inverts the forward matrix with ``cv2.invertAffineTransform``).

    Returns:
        (2, 3) float64 matrix mapping image pixels to canvas pixels (or back if ``inv``).
    """
    if not use_udp:
        return get_affine_transform(center, scale_px, rot_deg, output_size, inv=inv)
    forward = get_warp_matrix(rot_deg, _as_pair(center, 'center') * 2.0,
                              _as_pair(output_size, 'output_size') - 1.0, scale_px)
    return cv2.invertAffineTransform(forward) if inv else forward


def affine_transform_points(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to many points.

    Args:
        points: (..., 2) points (x, y).
        mat: (2, 3) affine matrix.

    Returns:
        (..., 2) transformed points, with the dtype of ``points`` when it is floating.
    """
    points = np.asarray(points)
    if points.shape[-1] != 2:
        raise ValueError(f'points must have shape (..., 2), got {points.shape}')
    mat = np.asarray(mat, dtype=np.float64)
    if mat.shape != (2, 3):
        raise ValueError(f'mat must have shape (2, 3), got {mat.shape}')
    out = points.astype(np.float64) @ mat[:, :2].T + mat[:, 2]
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
    return out.astype(dtype)


def transform_preds(coords: np.ndarray, center: ArrayLike, scale_px: ArrayLike,
                    output_size: ArrayLike, use_udp: bool = False) -> np.ndarray:
    """Map coordinates from a crop (input or heatmap pixels) back to the image.

    This inverts the crop made with ``center`` and ``scale_px`` at zero rotation
    (:func:`crop_matrix`): :func:`get_affine_transform` when ``use_udp`` is False,
    :func:`get_warp_matrix` (with ``output_size - 1`` spacing) when True.

    Args:
        coords: (K, 2) or (N, K, 2) crop coordinates (x, y); extra trailing columns are kept.
        center: (2,) box centre in image pixels, shared by all N.
        scale_px: (2,) box size (w, h) in pixels.
        output_size: (2,) size (w, h) of the space ``coords`` live in.
        use_udp: invert the UDP crop instead of the classic one.

    Returns:
        Array of the same shape as ``coords`` with x, y in image pixels.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim not in (2, 3) or coords.shape[-1] < 2:
        raise ValueError(f'coords must have shape (K, 2) or (N, K, 2), got {coords.shape}')
    mat = crop_matrix(center, scale_px, 0.0, output_size, use_udp=use_udp, inv=True)
    out = coords.copy()
    out[..., :2] = affine_transform_points(coords[..., :2], mat)
    return out


def box_to_center_scale(box_xywh: ArrayLike, aspect_ratio: float, pixel_std: float = 200.0,
                        padding: float = 1.25) -> Tuple[np.ndarray, np.ndarray]:
    """Centre and scale of a box padded to ``aspect_ratio`` and enlarged by ``padding``.

    The shorter side (relative to ``aspect_ratio = w / h``) is grown until the box has that
    aspect, then both sides are multiplied by ``padding``.

    Args:
        box_xywh: (4,) or (N, 4) boxes (x, y, w, h) in pixels.
        aspect_ratio: target width / height, e.g. 192 / 256.
        pixel_std: pixels per scale unit.
        padding: enlargement factor applied after the aspect padding.

    Returns:
        center: (2,) or (N, 2) float32 box centres (x, y) in pixels.
        scale: (2,) or (N, 2) float32 box sizes (w, h) in ``pixel_std`` units.
    """
    box = np.asarray(box_xywh, dtype=np.float64)
    if box.shape[-1] != 4 or box.ndim not in (1, 2):
        raise ValueError(f'box_xywh must have shape (4,) or (N, 4), got {box.shape}')
    if aspect_ratio <= 0:
        raise ValueError(f'aspect_ratio must be positive, got {aspect_ratio}')
    x, y, w, h = np.moveaxis(box, -1, 0)
    center = np.stack([x + 0.5 * w, y + 0.5 * h], axis=-1)
    padded_w = np.where(w < aspect_ratio * h, h * aspect_ratio, w)
    padded_h = np.where(w > aspect_ratio * h, w / aspect_ratio, h)
    scale = np.stack([padded_w, padded_h], axis=-1) / pixel_std * padding
    return center.astype(np.float32), scale.astype(np.float32)


def clip_box_xywh(box: Sequence[float], width: float, height: float) -> Optional[List[float]]:
    """Clip an (x, y, w, h) box to a ``width`` x ``height`` image.

    As in the reference HRNet pipeline, the right/bottom edge is the last pixel inside the box,
    ``x + w - 1`` (a box inside the image comes back as (x, y, w - 1, h - 1)), and the edges
    are clipped to ``[0, width - 1]`` and ``[0, height - 1]``. The far edge is taken from the
    unclipped ``x``, so a box that starts left of (or above) the image only loses the part
    outside it (the reference adds ``w - 1`` to the clipped ``x`` and so widens such a box;
    ground-truth boxes, which start inside the image, are unaffected).

    Args:
        box: (4,) box (x, y, w, h) in pixels.
        width: image width in pixels (``inf`` for no right limit).
        height: image height in pixels (``inf`` for no bottom limit).

    Returns:
        [x1, y1, x2 - x1, y2 - y1] floats, or None when nothing of the box is left.

    Raises:
        ValueError: when ``box`` does not have 4 values.
    """
    if len(box) != 4:
        raise ValueError(f'box must be (x, y, w, h), got {box!r}')
    x, y, w, h = (float(v) for v in box)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1, x + max(0.0, w - 1))
    y2 = min(height - 1, y + max(0.0, h - 1))
    if x2 < x1 or y2 < y1:
        return None
    return [x1, y1, x2 - x1, y2 - y1]


def center_scale_to_box(center: ArrayLike, scale: ArrayLike,
                        pixel_std: float = 200.0) -> Tuple[np.ndarray, np.ndarray]:
    """Box corners and area from a centre and a scale (the inverse of the box layout).

    Args:
        center: (2,) or (N, 2) centres (x, y) in pixels.
        scale: (2,) or (N, 2) sizes (w, h) in ``pixel_std`` units.
        pixel_std: pixels per scale unit.

    Returns:
        box_xyxy: (4,) or (N, 4) float32 corners (x1, y1, x2, y2) in pixels.
        area: () or (N,) float32 box area in square pixels.
    """
    center = np.asarray(center, dtype=np.float64)
    size = np.asarray(scale, dtype=np.float64) * pixel_std
    if center.shape != size.shape or center.shape[-1] != 2:
        raise ValueError(f'center and scale must both have shape (2,) or (N, 2), '
                         f'got {center.shape} and {size.shape}')
    box = np.concatenate([center - 0.5 * size, center + 0.5 * size], axis=-1)
    return box.astype(np.float32), np.prod(size, axis=-1).astype(np.float32)


def flip_permutation(flip_pairs: Union[np.ndarray, Sequence[Sequence[int]]],
                     num_joints: int) -> np.ndarray:
    """The joint permutation that a horizontal flip applies.

    Args:
        flip_pairs: (P, 2) pairs [left, right] of joint indices that swap; may be empty.
        num_joints: number of joints K.

    Returns:
        (K,) int64 array ``perm`` such that ``flipped[k] = original[perm[k]]``.

    Raises:
        ValueError: if a pair is malformed, an index is outside [0, K) or a joint appears in more
            than one pair.
    """
    pairs = np.asarray(flip_pairs, dtype=np.int64)
    if pairs.size == 0:
        return np.arange(num_joints)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f'flip_pairs must be a list of [left, right] pairs, got {flip_pairs!r}')
    for i, (left, right) in enumerate(pairs):
        if not (0 <= left < num_joints and 0 <= right < num_joints):
            raise ValueError(f'flip_pairs[{i}] = [{left}, {right}] is out of range for '
                             f'{num_joints} joints')
    used, counts = np.unique(pairs, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f'flip_pairs uses joint {int(used[counts > 1][0])} more than once')
    perm = np.arange(num_joints)
    perm[pairs[:, 0]] = pairs[:, 1]
    perm[pairs[:, 1]] = pairs[:, 0]
    return perm
