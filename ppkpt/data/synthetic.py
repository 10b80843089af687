"""Seeded generator of the synthetic plier dataset in COCO keypoint format: train/val splits
of JPEG images and a short video with per-frame ground truth.

The plier, its keypoints and its drawing are :mod:`ppkpt.data.plier_render`; the names used
elsewhere are re-exported here. Every image depends only on ``(seed, split, index)``, so a split
is reproducible byte for byte and image ``i`` is the same whatever the split size.
"""
import json
import math
import os
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppkpt.data.plier_render import (BBOX_PAD, FLIP_PERM, JPEG_QUALITY, KEYPOINT_NAMES,
                                     MAX_OVERLAP, SIGMAS, SKELETON, UPPER_BODY_IDS, Plier,
                                     PlierStyle, RenderedImage, coco_category, draw_plier,
                                     keypoint_visibility, mask_bbox, plier_annotation,
                                     plier_keypoints, plier_mask, plier_metadata,
                                     random_style, render_background, render_image)

__all__ = ['BBOX_PAD', 'FLIP_PERM', 'KEYPOINT_NAMES', 'MAX_OVERLAP', 'SIGMAS', 'SKELETON',
           'UPPER_BODY_IDS', 'Plier', 'PlierStyle', 'RenderedImage', 'coco_category',
           'draw_plier', 'keypoint_visibility', 'mask_bbox', 'plier_annotation',
           'plier_keypoints', 'plier_mask', 'plier_metadata', 'random_style',
           'render_background', 'render_image', 'image_rng', 'generate_split',
           'generate_video', 'generate_demo_dataset']


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of image ``index`` of ``split``: independent of the split size."""
    return np.random.default_rng([seed, zlib.crc32(split.encode('utf-8')), index])


def _check_size(size: Sequence[int], name: str) -> Tuple[int, int]:
    """Validate a (W, H) size argument and return it as a tuple of ints."""
    if len(size) != 2 or min(int(v) for v in size) < 32:
        raise ValueError(f'{name} must be (W, H) with both at least 32 px, got {size!r}')
    return int(size[0]), int(size[1])


def _write_json(path: str, data: Dict[str, Any]) -> None:
    """Write compact JSON, creating the parent folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, separators=(',', ':'))


def _write_jpeg(path: str, image: np.ndarray) -> None:
    """Encode a (H, W, 3) BGR image as JPEG and write it."""
    ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f'could not encode {path} as JPEG')
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def generate_split(out_dir: str, split: str, num_images: int,
                   image_size: Sequence[int] = (256, 192), seed: int = 0) -> str:
    """Render a split and write its images and COCO keypoint json.

    Images go to ``out_dir/images/<split>/<index:06d>.jpg`` (``file_name`` is the bare file
    name) and annotations to ``out_dir/annotations/<split>.json``.

    Args:
        out_dir: dataset root.
        split: split name, e.g. ``'train'``; it also seeds the split.
        num_images: number of images (>= 1).
        image_size: (W, H) in pixels.
        seed: base seed.

    Returns:
        path of the annotation json.
    """
    if num_images < 1:
        raise ValueError(f'num_images for split {split!r} must be >= 1, got {num_images}')
    size = _check_size(image_size, 'image_size')
    image_dir = os.path.join(out_dir, 'images', split)
    os.makedirs(image_dir, exist_ok=True)
    images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    for index in range(num_images):
        scene = render_image(image_rng(seed, split, index), size)
        file_name = f'{index:06d}.jpg'
        _write_jpeg(os.path.join(image_dir, file_name), scene.image)
        image_id = index + 1
        images.append({'id': image_id, 'file_name': file_name,
                       'width': size[0], 'height': size[1]})
        for plier in scene.pliers:
            annotations.append(plier_annotation(plier, size, len(annotations) + 1, image_id))
    path = os.path.join(out_dir, 'annotations', f'{split}.json')
    _write_json(path, {'images': images, 'annotations': annotations,
                       'categories': [coco_category()]})
    return path


@dataclass
class _Track:
    """Smooth motion of one plier in the demo video; angles in degrees, phases in radians."""

    lane_x: float
    amp_x: float
    amp_y: float
    freq: float
    phase: float
    angle0: float
    spin: float
    open_phase: float
    length: float
    style: PlierStyle

    def keypoints(self, t: float, height: int) -> np.ndarray:
        """(5, 2) keypoints at frame ``t``: sinusoidal path, constant spin, breathing jaws."""
        wave = 2.0 * math.pi * self.freq * t
        hinge = (self.lane_x + self.amp_x * math.sin(wave + self.phase),
                 height / 2.0 + self.amp_y * math.sin(0.5 * wave + 2.0 * self.phase))
        opening = 0.5 + 0.45 * math.sin(1.5 * wave + self.open_phase)
        return np.round(plier_keypoints(hinge, self.length, self.angle0 + self.spin * t,
                                        opening), 2)


def _make_tracks(rng: np.random.Generator, size: Tuple[int, int], count: int) -> List[_Track]:
    """One track per vertical lane of the frame, so that objects rarely meet."""
    width, height = size
    lane = width / count
    high = 0.6 if count == 1 else 0.4
    tracks = []
    for index in range(count):
        length = rng.uniform(0.25, high) * min(size)
        tracks.append(_Track(
            lane_x=lane * (index + 0.5), amp_x=0.15 * lane, amp_y=0.25 * height,
            freq=rng.uniform(0.01, 0.025), phase=rng.uniform(0, 2 * math.pi),
            angle0=rng.uniform(-180, 180), spin=rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0),
            open_phase=rng.uniform(0, 2 * math.pi), length=length,
            style=random_style(rng, length)))
    return tracks


def generate_video(out_dir: str, num_frames: int = 90, fps: int = 15,
                   size: Sequence[int] = (320, 240), seed: int = 0,
                   num_objects: Optional[int] = None) -> str:
    """Render a short video of smoothly moving pliers and its ground truth.

    Writes ``out_dir/video/demo.mp4`` (mp4v) and ``out_dir/video/demo_gt.json``: COCO keypoint
    json with one ``images`` entry per frame (``file_name`` ``'demo.mp4'`` and a 0-based
    ``frame``), annotations carrying a ``track_id`` (1-based, constant per object) and a
    top-level ``video`` entry with ``file_name``, ``fps`` and ``num_frames``.

    Args:
        out_dir: dataset root.
        num_frames: number of frames (>= 1).
        fps: frames per second (>= 1).
        size: frame size (W, H).
        seed: base seed.
        num_objects: pliers in every frame (1 to 6); None: 1 to 3, drawn from the seed.

    Returns:
        path of the mp4 file.
    """
    if num_frames < 1 or fps < 1:
        raise ValueError(f'num_frames and fps must be >= 1, got {num_frames} and {fps}')
    if num_objects is not None and not 1 <= num_objects <= 6:
        raise ValueError(f'num_objects must be 1 to 6, got {num_objects}')
    frame_size = _check_size(size, 'size')
    rng = image_rng(seed, 'video', 0)
    background = render_background(rng, frame_size)
    count = int(rng.integers(1, 4))
    tracks = _make_tracks(rng, frame_size, count if num_objects is None else num_objects)
    video_dir = os.path.join(out_dir, 'video')
    os.makedirs(video_dir, exist_ok=True)
    path = os.path.join(video_dir, 'demo.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), float(fps), frame_size)
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter could not open {path} with the mp4v codec')
    images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    try:
        for frame in range(num_frames):
            canvas = background.copy()
            images.append({'id': frame + 1, 'file_name': 'demo.mp4', 'width': frame_size[0],
                           'height': frame_size[1], 'frame': frame})
            for track_id, track in enumerate(tracks, start=1):
                plier = Plier(track.keypoints(float(frame), frame_size[1]), track.style)
                draw_plier(canvas, plier)
                ann = plier_annotation(plier, frame_size, len(annotations) + 1, frame + 1)
                ann['track_id'] = track_id
                annotations.append(ann)
            writer.write(canvas)
    finally:
        writer.release()
    _write_json(os.path.join(video_dir, 'demo_gt.json'), {
        'video': {'file_name': 'demo.mp4', 'fps': fps, 'num_frames': num_frames},
        'images': images, 'annotations': annotations, 'categories': [coco_category()]})
    return path


def generate_demo_dataset(out_dir: str, num_train: int = 400, num_val: int = 60,
                          image_size: Sequence[int] = (256, 192), num_frames: int = 90,
                          seed: int = 0) -> Dict[str, str]:
    """Generate the whole demo dataset: train and val splits and the demo video.

    Args:
        out_dir: dataset root.
        num_train: train images.
        num_val: val images.
        image_size: (W, H) of the still images.
        num_frames: video frames (15 fps, 320x240).
        seed: base seed.

    Returns:
        dict with the paths ``train`` and ``val`` (annotation json), ``video`` (mp4) and
        ``video_gt`` (its json).
    """
    video = generate_video(out_dir, num_frames=num_frames, seed=seed)
    return {
        'train': generate_split(out_dir, 'train', num_train, image_size, seed),
        'val': generate_split(out_dir, 'val', num_val, image_size, seed),
        'video': video,
        'video_gt': os.path.join(os.path.dirname(video), 'demo_gt.json'),
    }

