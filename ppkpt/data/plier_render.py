"""Drawing a synthetic 5-keypoint "plier" and its COCO annotation (the demo data's renderer).

A plier is drawn with OpenCV as two thick handles with coloured grips, two tapered jaws and a
hinge disc. Its keypoints, in order (K = 5):

====  ================  ====================================================
 id   name              where
====  ================  ====================================================
 0    ``left_handle``   end of the handle on the object's left
 1    ``right_handle``  end of the handle on the object's right
 2    ``hinge``         centre of the hinge disc
 3    ``left_jaw``      tip of the jaw on the object's left
 4    ``right_jaw``     tip of the jaw on the object's right
====  ================  ====================================================

"Left" and "right" are read in the object's own frame: rotate the image until the jaws point
up, and the left parts are the ones on the left. The drawing is mirror symmetric, so a
horizontal image flip turns a left part into a right one, which is what ``flip_perm`` says.

Images are BGR ``uint8`` arrays (OpenCV order). :mod:`ppkpt.data.synthetic` writes them as
splits and a video. This module needs only numpy and cv2.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import cv2
import numpy as np

KEYPOINT_NAMES = ['left_handle', 'right_handle', 'hinge', 'left_jaw', 'right_jaw']
SKELETON = [[0, 2], [1, 2], [2, 3], [2, 4]]
FLIP_PERM = [[0, 1], [3, 4]]
UPPER_BODY_IDS = [2, 3, 4]
# OKS sigmas: the hinge is a small sharp disc; jaw tips are points but thin; handle ends are
# wide rounded grips whose exact end is the least precise.
SIGMAS = [0.075, 0.075, 0.05, 0.06, 0.06]

CATEGORY_ID = 1
JPEG_QUALITY = 92
HANDLE_FRACTION = 0.65
JAW_FRACTION = 0.35
BBOX_PAD = 2.0
MAX_OVERLAP = 0.15
PLACEMENT_TRIES = 30
OBJECT_COUNT_PROBS = (0.55, 0.3, 0.15)
_SHIFT = 4
_SUBPIXEL = 1 << _SHIFT

Color = Tuple[int, int, int]


def plier_metadata() -> Dict[str, Any]:
    """Keypoint metadata of the plier set, under the top-level config key names.

    Returns:
        dict with ``num_joints`` (5), ``keypoint_names`` (5 str), ``flip_perm`` (pairs of
        0-based ids), ``upper_body_ids`` (the jaw side), ``sigmas`` (5 OKS sigmas) and
        ``skeleton`` (0-based links).
    """
    return {
        'num_joints': len(KEYPOINT_NAMES),
        'keypoint_names': list(KEYPOINT_NAMES),
        'flip_perm': [list(pair) for pair in FLIP_PERM],
        'upper_body_ids': list(UPPER_BODY_IDS),
        'sigmas': list(SIGMAS),
        'skeleton': [list(link) for link in SKELETON],
    }


def coco_category() -> Dict[str, Any]:
    """The COCO ``categories`` entry for the plier, with a 1-based skeleton as COCO writes it."""
    return {
        'id': CATEGORY_ID,
        'name': 'plier',
        'supercategory': 'tool',
        'keypoints': list(KEYPOINT_NAMES),
        'skeleton': [[a + 1, b + 1] for a, b in SKELETON],
    }


@dataclass
class PlierStyle:
    """How one plier looks.

    Attributes:
        metal: BGR colour of the jaws and handle shafts.
        grip: BGR colour of the handle grips.
        hinge: BGR colour of the hinge disc.
        outline: BGR colour of the thin outlines.
        thickness: shaft thickness in pixels (grips and jaws scale from it).
    """

    metal: Color
    grip: Color
    hinge: Color
    outline: Color
    thickness: float


@dataclass
class Plier:
    """One drawn plier: keypoints (5, 2) as (x, y) image pixels, and its style."""

    keypoints: np.ndarray
    style: PlierStyle


@dataclass
class RenderedImage:
    """A rendered scene.

    Attributes:
        image: (H, W, 3) uint8 BGR, background with the pliers drawn on it.
        background: (H, W, 3) uint8 BGR, the same scene without the pliers.
        pliers: the pliers in drawing order (a later one is drawn on top).
    """

    image: np.ndarray
    background: np.ndarray
    pliers: List[Plier]


def plier_keypoints(hinge: Sequence[float], length: float, angle_deg: float,
                    opening: float) -> np.ndarray:
    """Keypoints of a plier posed in the image.

    Args:
        hinge: (x, y) of the hinge in pixels.
        length: handle end to jaw tip length along the closed plier, in pixels.
        angle_deg: direction the jaws point, in degrees counter-clockwise from image up.
        opening: 0 (closed) to 1 (wide open).

    Returns:
        (5, 2) float64 keypoints (x, y) in the order of ``KEYPOINT_NAMES``.
    """
    handle_half = math.radians(8.0 + 22.0 * opening)
    jaw_half = math.radians(2.0 + 18.0 * opening)
    # Local frame: jaws along -y (image up), the object's left along -x.
    local = np.array([
        [-math.sin(handle_half), math.cos(handle_half)],
        [math.sin(handle_half), math.cos(handle_half)],
        [0.0, 0.0],
        [-math.sin(jaw_half), -math.cos(jaw_half)],
        [math.sin(jaw_half), -math.cos(jaw_half)],
    ])
    local[[0, 1]] *= HANDLE_FRACTION * length
    local[[3, 4]] *= JAW_FRACTION * length
    theta = math.radians(angle_deg)
    # Counter-clockwise on screen is clockwise in (x, right; y, down) coordinates.
    rot = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    return local @ rot.T + np.asarray(hinge, dtype=np.float64)


def _fixed(points: np.ndarray) -> np.ndarray:
    """(..., 2) float pixels -> int32 fixed point for cv2 drawing with ``shift=_SHIFT``."""
    return np.round(np.asarray(points) * _SUBPIXEL).astype(np.int32)


def _handle_curve(hinge: np.ndarray, end: np.ndarray, bow: float) -> np.ndarray:
    """(9, 2) points of a quadratic curve from the hinge to a handle end, bowed by ``bow`` px."""
    mid = (hinge + end) / 2.0
    direction = end - hinge
    normal = np.array([direction[1], -direction[0]]) / max(float(np.linalg.norm(direction)), 1e-6)
    control = mid + bow * normal
    t = np.linspace(0.0, 1.0, 9)[:, None]
    return (1 - t) ** 2 * hinge + 2 * (1 - t) * t * control + t ** 2 * end


def _polyline(canvas: np.ndarray, points: np.ndarray, color: Color, thickness: float) -> None:
    """Draw an open anti-aliased polyline of (M, 2) points, at least 1 px thick."""
    cv2.polylines(canvas, [_fixed(points)], False, color, max(1, int(round(thickness))),
                  cv2.LINE_AA, _SHIFT)


def _draw_handle(canvas: np.ndarray, hinge: np.ndarray, end: np.ndarray, side: float,
                 style: PlierStyle) -> None:
    """Draw one handle: an outlined shaft bowed outwards, and a thicker grip on its outer part."""
    curve = _handle_curve(hinge, end, side * 0.08 * float(np.linalg.norm(end - hinge)))
    grip = curve[4:]
    _polyline(canvas, curve, style.outline, style.thickness + 2)
    _polyline(canvas, curve, style.metal, style.thickness)
    _polyline(canvas, grip, style.outline, 1.6 * style.thickness + 2)
    _polyline(canvas, grip, style.grip, 1.6 * style.thickness)


def _draw_jaw(canvas: np.ndarray, hinge: np.ndarray, tip: np.ndarray, style: PlierStyle) -> None:
    """Draw one jaw: an outlined polygon tapering from the hinge to a rounded tip."""
    direction = tip - hinge
    normal = np.array([-direction[1], direction[0]]) / max(float(np.linalg.norm(direction)), 1e-6)
    base_half = 0.9 * style.thickness
    tip_half = max(1.0, 0.25 * style.thickness)
    polygon = np.stack([hinge + base_half * normal, tip + tip_half * normal,
                        tip - tip_half * normal, hinge - base_half * normal])
    cv2.fillConvexPoly(canvas, _fixed(polygon), style.metal, cv2.LINE_AA, _SHIFT)
    cv2.polylines(canvas, [_fixed(polygon)], True, style.outline, 1, cv2.LINE_AA, _SHIFT)
    radius = int(round((tip_half + 0.5) * _SUBPIXEL))
    cv2.circle(canvas, tuple(int(v) for v in _fixed(tip)), radius, style.metal, -1, cv2.LINE_AA,
               _SHIFT)


def draw_plier(canvas: np.ndarray, plier: Plier) -> None:
    """Draw a plier in place: handles, then jaws, then the hinge disc on top.

    Args:
        canvas: (H, W, 3) uint8 BGR image, or (H, W) uint8 mask (colours then draw as their
            first channel, so draw masks with a style whose colours are all non-zero).
        plier: keypoints (5, 2) and style.
    """
    kpts = np.asarray(plier.keypoints, dtype=np.float64)
    style = plier.style
    hinge = kpts[2]
    _draw_handle(canvas, hinge, kpts[0], -1.0, style)
    _draw_handle(canvas, hinge, kpts[1], 1.0, style)
    _draw_jaw(canvas, hinge, kpts[3], style)
    _draw_jaw(canvas, hinge, kpts[4], style)
    radius = 0.9 * style.thickness + 1.5
    center = tuple(int(v) for v in _fixed(hinge))
    cv2.circle(canvas, center, int(round((radius + 1) * _SUBPIXEL)), style.outline, -1,
               cv2.LINE_AA, _SHIFT)
    cv2.circle(canvas, center, int(round(radius * _SUBPIXEL)), style.hinge, -1, cv2.LINE_AA,
               _SHIFT)


def plier_mask(plier: Plier, size: Tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of every pixel the plier touches, outlines included.

    Args:
        plier: the plier.
        size: image size (W, H).
    """
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    white = (255, 255, 255)
    draw_plier(mask, Plier(plier.keypoints, PlierStyle(white, white, white, white,
                                                       plier.style.thickness)))
    return mask > 0


def keypoint_visibility(keypoints: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """(K,) int visibility flags: 2 for a keypoint inside the image, 0 outside.

    Args:
        keypoints: (K, 2) pixels (x, y).
        size: image size (W, H).
    """
    width, height = size
    inside = ((keypoints[:, 0] >= 0) & (keypoints[:, 0] < width)
              & (keypoints[:, 1] >= 0) & (keypoints[:, 1] < height))
    return np.where(inside, 2, 0).astype(np.int64)


def mask_bbox(mask: np.ndarray, pad: float = BBOX_PAD) -> List[float]:
    """Tight [x, y, w, h] box of a (H, W) bool mask, grown by ``pad`` px, clipped to the image."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise ValueError('mask_bbox: the mask is empty, the object lies outside the image')
    height, width = mask.shape
    x0 = max(0.0, float(xs.min()) - pad)
    y0 = max(0.0, float(ys.min()) - pad)
    x1 = min(float(width), float(xs.max()) + 1.0 + pad)
    y1 = min(float(height), float(ys.max()) + 1.0 + pad)
    return [x0, y0, x1 - x0, y1 - y0]


def _random_color(rng: np.random.Generator, sat: Tuple[int, int],
                  val: Tuple[int, int]) -> Color:
    """A BGR colour with random hue and saturation/value drawn from the given ranges."""
    hsv = np.array([[[rng.integers(0, 180), rng.integers(*sat), rng.integers(*val)]]],
                   dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def random_style(rng: np.random.Generator, length: float) -> PlierStyle:
    """Random colours (grey-ish metal, saturated grips) and a thickness scaled to ``length`` px."""
    metal = _random_color(rng, (0, 40), (140, 230))
    hinge = tuple(int(0.6 * c) for c in metal)
    return PlierStyle(metal=metal, grip=_random_color(rng, (150, 256), (110, 256)), hinge=hinge,
                      outline=(20, 20, 20), thickness=max(2.0, 0.055 * length))


def render_background(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A random background: solid colour, linear gradient, distractor shapes and pixel noise.

    Args:
        rng: random generator.
        size: image size (W, H).

    Returns:
        (H, W, 3) uint8 BGR.
    """
    width, height = size
    base = np.array(_random_color(rng, (0, 200), (40, 230)), dtype=np.float32)
    other = np.array(_random_color(rng, (0, 200), (40, 230)), dtype=np.float32)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs * math.cos(angle) / max(width, 1) + ys * math.sin(angle) / max(height, 1)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    strength = rng.uniform(0.2, 0.8)
    image = base + strength * ramp[..., None] * (other - base)
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        _draw_distractor(canvas, rng)
    noise = rng.normal(0.0, rng.uniform(2.0, 8.0), size=canvas.shape)
    return np.clip(canvas.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _draw_distractor(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Draw one random rectangle, ellipse or line on a (H, W, 3) canvas in place."""
    height, width = canvas.shape[:2]
    short = min(width, height)
    color = _random_color(rng, (0, 256), (30, 256))
    center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
    extent = int(rng.integers(max(2, short // 12), max(3, short // 4)))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        corner = (center[0] + extent, center[1] + int(rng.integers(2, extent + 3)))
        cv2.rectangle(canvas, center, corner, color, -1)
    elif kind == 1:
        axes = (extent, int(rng.integers(2, extent + 3)))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1,
                    cv2.LINE_AA)
    else:
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(canvas, center, end, color, int(rng.integers(1, 4)), cv2.LINE_AA)


def _sample_pose(rng: np.random.Generator, size: Tuple[int, int], length: float) -> np.ndarray:
    """(5, 2) keypoints of a random pose whose keypoint box centre lies in the middle 60%."""
    width, height = size
    kpts = plier_keypoints((0.0, 0.0), length, rng.uniform(-180.0, 180.0), rng.uniform(0.0, 1.0))
    offset = (kpts.min(axis=0) + kpts.max(axis=0)) / 2.0
    target = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height])
    return np.round(kpts - offset + target, 2)


def _pose_is_valid(kpts: np.ndarray, size: Tuple[int, int]) -> bool:
    """A pose is kept when the hinge and at least 3 of the 5 keypoints are inside the image."""
    vis = keypoint_visibility(kpts, size)
    return bool(vis[2] > 0 and np.count_nonzero(vis) >= 3)


def _separated(mask: np.ndarray, kpts: np.ndarray, placed: List[Tuple[np.ndarray, np.ndarray]]
               ) -> bool:
    """True when a new object overlaps each placed one by at most ``MAX_OVERLAP`` of the smaller
    area and neither covers a keypoint of the other."""
    area = int(mask.sum())
    for other_mask, other_kpts in placed:
        inter = int(np.logical_and(mask, other_mask).sum())
        if inter > MAX_OVERLAP * min(area, int(other_mask.sum())):
            return False
        if _covers_keypoint(mask, other_kpts) or _covers_keypoint(other_mask, kpts):
            return False
    return True


def _covers_keypoint(mask: np.ndarray, kpts: np.ndarray) -> bool:
    """True when a (H, W) mask is set at the rounded pixel of any (K, 2) keypoint in the image."""
    height, width = mask.shape
    cols = np.round(kpts[:, 0]).astype(int)
    rows = np.round(kpts[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    return bool(mask[rows[inside], cols[inside]].any())


def _place_pliers(rng: np.random.Generator, size: Tuple[int, int], count: int) -> List[Plier]:
    """Place up to ``count`` pliers that keep their keypoints visible and barely overlap.

    The first plier always exists; later ones are dropped when no valid spot is found.
    """
    short = min(size)
    high = 0.7 if count == 1 else 0.5
    placed: List[Tuple[np.ndarray, np.ndarray]] = []
    pliers: List[Plier] = []
    for _ in range(count):
        length = rng.uniform(0.25, high) * short
        style = random_style(rng, length)
        for _ in range(PLACEMENT_TRIES):
            kpts = _sample_pose(rng, size, length)
            if not _pose_is_valid(kpts, size):
                continue
            plier = Plier(kpts, style)
            mask = plier_mask(plier, size)
            if _separated(mask, kpts, placed):
                placed.append((mask, kpts))
                pliers.append(plier)
                break
        if not pliers:
            center = (size[0] / 2.0, size[1] / 2.0)
            kpts = np.round(plier_keypoints(center, length, 0.0, 0.5), 2)
            placed.append((plier_mask(Plier(kpts, style), size), kpts))
            pliers.append(Plier(kpts, style))
    return pliers


def render_image(rng: np.random.Generator, size: Tuple[int, int]) -> RenderedImage:
    """Render one scene with 1 to 3 pliers (probabilities ``OBJECT_COUNT_PROBS``).

    Args:
        rng: random generator; the scene depends only on its state.
        size: image size (W, H).
    """
    background = render_background(rng, size)
    count = int(rng.choice(len(OBJECT_COUNT_PROBS), p=OBJECT_COUNT_PROBS)) + 1
    pliers = _place_pliers(rng, size, count)
    image = background.copy()
    for plier in pliers:
        draw_plier(image, plier)
    return RenderedImage(image=image, background=background, pliers=pliers)


def plier_annotation(plier: Plier, size: Tuple[int, int], ann_id: int,
                     image_id: int) -> Dict[str, Any]:
    """COCO keypoint annotation of a plier; the bbox is its drawn extent, padded and clipped.

    Args:
        plier: the plier.
        size: image size (W, H).
        ann_id: annotation id.
        image_id: id of the image it belongs to.
    """
    kpts = np.asarray(plier.keypoints, dtype=np.float64)
    vis = keypoint_visibility(kpts, size)
    flat: List[float] = []
    for (x, y), v in zip(kpts.tolist(), vis.tolist()):
        flat.extend([round(x, 2), round(y, 2), int(v)])
    bbox = [round(v, 2) for v in mask_bbox(plier_mask(plier, size))]
    return {
        'id': ann_id,
        'image_id': image_id,
        'category_id': CATEGORY_ID,
        'keypoints': flat,
        'num_keypoints': int(np.count_nonzero(vis)),
        'bbox': bbox,
        'area': round(bbox[2] * bbox[3], 2),
        'iscrowd': 0,
    }
