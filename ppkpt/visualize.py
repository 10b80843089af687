"""Draw keypoints, skeleton links, boxes and track ids on an image (numpy and cv2 only).

The skeleton and colours come from keypoint metadata (``KeypointMeta.to_dict()`` or the same
keys in ``infer_cfg.yml``), so any number of joints K draws; nothing assumes COCO-17.

Dimension names: P persons, K joints.
"""
from typing import Optional, Sequence

import cv2
import numpy as np

from ppkpt.metadata import default_colors as _default_color_list

__all__ = ['draw_keypoints', 'default_colors']


def default_colors(count: int) -> np.ndarray:
    """``count`` evenly spaced, saturated hues (the metadata's default joint colours).

    Returns:
        (count, 3) int array of [B, G, R] values in 0..255.
    """
    return np.asarray(_default_color_list(count), dtype=np.int64).reshape(count, 3)


def _check_inputs(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'draw_keypoints: image must be (H, W, 3), got {image.shape}')
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.size == 0:
        return keypoints.reshape(0, 0, 3)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3:
        raise ValueError(f'draw_keypoints: keypoints must be (P, K, 3), got {keypoints.shape}')
    return keypoints


def _check_skeleton(skeleton: Sequence[Sequence[int]], num_joints: int) -> np.ndarray:
    links = np.asarray(skeleton, dtype=np.int64).reshape(-1, 2)
    bad = np.flatnonzero(np.any((links < 0) | (links >= num_joints), axis=1))
    if bad.size:
        raise ValueError(f'draw_keypoints: skeleton[{bad[0]}] = {links[bad[0]].tolist()} is out '
                         f'of range for {num_joints} joints')
    return links


def _joint_colors(colors: Optional[Sequence[Sequence[int]]], num_joints: int) -> np.ndarray:
    if colors is None:
        return default_colors(num_joints)
    palette = np.asarray(colors, dtype=np.int64).reshape(-1, 3)
    if len(palette) == 0:
        raise ValueError('draw_keypoints: colors is empty')
    return palette[np.arange(num_joints) % len(palette)]


def _as_bgr(color: np.ndarray) -> tuple:
    return tuple(int(c) for c in color)


def _draw_person(canvas: np.ndarray, joints: np.ndarray, links: np.ndarray, palette: np.ndarray,
                 threshold: float, thickness: int) -> None:
    """Draw the links then the joints of one person, (K, 3), onto ``canvas`` in place."""
    visible = joints[:, 2] >= threshold
    for a, b in links:
        if visible[a] and visible[b]:
            start = tuple(int(round(v)) for v in joints[a, :2])
            end = tuple(int(round(v)) for v in joints[b, :2])
            cv2.line(canvas, start, end, _as_bgr(palette[b]), thickness, cv2.LINE_AA)
    for k in np.flatnonzero(visible):
        point = tuple(int(round(v)) for v in joints[k, :2])
        cv2.circle(canvas, point, thickness + 1, _as_bgr(palette[k]), -1, cv2.LINE_AA)


def _draw_box(canvas: np.ndarray, box: np.ndarray, label: Optional[str], color: tuple) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box[:4])
    cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 1)
    if label:
        cv2.putText(canvas, label, (x1, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                    cv2.LINE_AA)


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, skeleton: Sequence[Sequence[int]],
                   threshold: float = 0.5, colors: Optional[Sequence[Sequence[int]]] = None,
                   track_ids: Optional[Sequence[int]] = None,
                   boxes: Optional[np.ndarray] = None, thickness: int = 2) -> np.ndarray:
    """Draw every person's skeleton (and optionally box and track id) on a copy of ``image``.

    A joint is drawn when its score is at least ``threshold``; a link when both its joints are.

    Args:
        image: (H, W, 3) uint8 image; colours are interpreted in the image's channel order
            (BGR for OpenCV frames).
        keypoints: (P, K, 3) keypoints (x, y, score) in image pixels; P may be 0.
        skeleton: (L, 2) links [a, b] of joint indices in [0, K).
        threshold: minimum joint score to draw.
        colors: (C, 3) per-joint colours, reused cyclically when C < K; None gives K hues.
        track_ids: (P,) ids written next to each box (or the first visible joint).
        boxes: (P, 4+) boxes (x1, y1, x2, y2, ...) in image pixels.
        thickness: line thickness in pixels.

    Returns:
        (H, W, 3) uint8 annotated copy of ``image``.
    """
    canvas = np.ascontiguousarray(image).copy()
    keypoints = _check_inputs(canvas, keypoints)
    num_persons, num_joints = keypoints.shape[:2]
    for name, values in (('track_ids', track_ids), ('boxes', boxes)):
        if values is not None and len(values) != num_persons:
            raise ValueError(f'draw_keypoints: {name} has {len(values)} entries for '
                             f'{num_persons} persons')
    if num_persons == 0:
        return canvas
    links = _check_skeleton(skeleton, num_joints)
    palette = _joint_colors(colors, num_joints)
    person_colors = default_colors(max(num_persons, 1) if track_ids is None else 12)
    for p in range(num_persons):
        _draw_person(canvas, keypoints[p], links, palette, threshold, thickness)
        label = None if track_ids is None else f'id {int(track_ids[p])}'
        color_index = p if track_ids is None else int(track_ids[p]) % 12
        if boxes is not None:
            _draw_box(canvas, np.asarray(boxes[p], dtype=np.float64), label,
                      _as_bgr(person_colors[color_index]))
        elif label is not None:
            anchor = keypoints[p, int(np.argmax(keypoints[p, :, 2])), :2]
            cv2.putText(canvas, label, (int(anchor[0]), int(anchor[1])),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, _as_bgr(person_colors[color_index]), 1)
    return canvas
