"""Occlusion augmentation for top-down training: information dropping (AID).

Huang et al., "AID: Pushing the Performance Boundary of Human Pose Estimation with Information
Dropping Augmentation" (2020): blacking out a disc near a visible joint forces the network to
infer that joint from context, as it must for a real occlusion. PP-TinyPose trains with it.

Like the other record ops (``docs/architecture.md``), the op draws from numpy's global generator
and stores a new image instead of editing the old one.
"""
from typing import Any, Dict, List

import numpy as np

from ppkpt.codecs.base import KeypointCodec
from ppkpt.core.workspace import serializable

__all__ = ['AugmentationbyInformantionDropping', 'drop_disc']

Record = Dict[str, Any]
RADIUS_RANGE = (0.1, 0.2)   # disc radius as a fraction of the crop width


def drop_disc(image: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """A copy of ``image`` with every pixel whose centre lies within ``radius`` of ``center``
    set to 0.

    Args:
        image: (H, W, C) or (H, W) array.
        center: (2,) disc centre (x, y) in pixels; it may lie outside the image.
        radius: disc radius in pixels.

    Returns:
        The new image, same shape and dtype.
    """
    height, width = image.shape[:2]
    ys, xs = np.ogrid[:height, :width]
    inside = (xs - center[0]) ** 2 + (ys - center[1]) ** 2 <= radius ** 2
    out = image.copy()
    out[inside] = 0
    return out


@serializable
class AugmentationbyInformantionDropping:
    """With probability ``prob_cutout``, black out ``num_patch`` discs near visible joints of
    the crop (PaddleDetection's AID op, its name and arguments, spelling included).

    For each patch a joint is drawn uniformly from the visible joints that lie inside the crop;
    the disc centre is that joint plus ``N(0, 1) * offset_factor * w`` on each axis, and its
    radius is ``U(0.1, 0.2) * w``, where w is the crop width (``codec.input_size[0]``).

    Units: PaddleDetection draws the same numbers in crop pixels (``trainsize[0]``) but applies
    them before ``TopDownAffine``, on the original image, where one crop pixel is
    ``scale[0] * pixel_std / trainsize[0]`` image pixels; there a large person loses a small
    disc and a small person a big one. This op runs on the crop, after ``TopDownAffine``, so a
    disc always covers 10-20 % of the crop width, as the numbers intend, and every dropped
    pixel is inside the crop.

    Required keys: ``image`` (h, w, 3) with [w, h] = ``codec.input_size`` (the crop),
    ``gt_joints`` (K, 2|3) in crop pixels, ``joints_vis`` (K, 3).
    Modified keys: ``image``. Joints and their visibility are unchanged.

    Args:
        codec: the run's codec (the top-level ``codec:`` key); sets the crop size.
        prob_cutout: probability of dropping at all.
        offset_factor: standard deviation of the centre offset, as a fraction of the crop width.
        num_patch: discs per dropped sample.
    """

    __category__ = 'transform'
    __shared__ = ['codec']
    __shared_only__ = ['codec']
    __moved__ = {'trainsize': 'trainsize (the codec input_size)'}

    def __init__(self, codec: KeypointCodec, prob_cutout: float = 0.0,
                 offset_factor: float = 0.2, num_patch: int = 1) -> None:
        if not 0.0 <= prob_cutout <= 1.0:
            raise ValueError(f'AugmentationbyInformantionDropping.prob_cutout must be in [0, 1], '
                             f'got {prob_cutout}')
        if offset_factor < 0:
            raise ValueError(f'AugmentationbyInformantionDropping.offset_factor must be >= 0, '
                             f'got {offset_factor}')
        if num_patch < 1:
            raise ValueError(f'AugmentationbyInformantionDropping.num_patch must be >= 1, '
                             f'got {num_patch}')
        self.crop_size: List[int] = [int(v) for v in codec.input_size]
        self.prob_cutout = float(prob_cutout)
        self.offset_factor = float(offset_factor)
        self.num_patch = int(num_patch)

    def __call__(self, record: Record) -> Record:
        image = record['image']
        width, height = self.crop_size
        if tuple(image.shape[:2]) != (height, width):
            raise ValueError(f'AugmentationbyInformantionDropping works on the {width}x{height} '
                             f'crop, got an image of {image.shape[1]}x{image.shape[0]}: place it '
                             f'after TopDownAffine')
        if np.random.rand() >= self.prob_cutout:
            return record
        joints = self._candidates(record)
        if len(joints) == 0:
            return record
        for _ in range(self.num_patch):
            joint = joints[np.random.randint(len(joints))]
            center = joint + np.random.randn(2) * self.offset_factor * width
            radius = np.random.uniform(*RADIUS_RANGE) * width
            image = drop_disc(image, center, radius)
        record['image'] = image
        return record

    def _candidates(self, record: Record) -> np.ndarray:
        """(M, 2) visible joints inside the crop, in crop pixels."""
        joints = np.asarray(record['gt_joints'], dtype=np.float64)[:, :2]
        visible = np.asarray(record['joints_vis'])[:, 0] > 0
        width, height = self.crop_size
        inside = ((joints[:, 0] >= 0) & (joints[:, 0] < width)
                  & (joints[:, 1] >= 0) & (joints[:, 1] < height))
        return joints[visible & inside]
