"""MPII json lists (the HRNet / mmpose release format): parsing and checks, numpy only.

An MPII json is a list of person entries ``{image, center, scale, joints, joints_vis}`` with
MATLAB 1-based coordinates; ``scale`` is the person height in units of 200 px. Entries of the
test split are unlabelled: ``{image, center, scale}`` only. Nothing here imports paddle, so the
dataset, the PCKh metric and the tools share it.
"""
import os
from typing import Any, List, Mapping, NamedTuple, Tuple

import numpy as np

from ppkpt.data.coco import load_json

__all__ = ['MPII_PIXEL_STD', 'MpiiPerson', 'load_mpii_entries', 'mpii_image_id', 'mpii_is_labelled',
           'mpii_joints', 'mpii_joints_vis', 'parse_mpii_entry']

MPII_PIXEL_STD = 200.0
"""MPII ``scale`` values are person heights in units of 200 px."""
_CENTER_SHIFT = 15.0
_SCALE_PADDING = 1.25


def load_mpii_entries(path: str, owner: str) -> List[Mapping[str, Any]]:
    """The entry list of an MPII json.

    Raises:
        FileNotFoundError / ValueError: naming ``path``.
    """
    entries = load_json(path, owner)
    if not isinstance(entries, list):
        raise ValueError(f'{owner}: {path} must be a json list of person entries')
    return entries


def mpii_image_id(entry: Mapping[str, Any], index: int) -> int:
    """``image_id`` of an entry, else its numeric image file stem, else ``index``."""
    if 'image_id' in entry:
        return int(entry['image_id'])
    stem = os.path.splitext(os.path.basename(str(entry.get('image', ''))))[0]
    return int(stem) if stem.isdigit() else index


def mpii_is_labelled(entry: Mapping[str, Any]) -> bool:
    """Whether an entry has joint positions (``joints`` or ``gt_joints``); the entries of
    MPII's test split have none."""
    return 'joints' in entry or 'gt_joints' in entry


def _entry_name(entry: Mapping[str, Any], index: int, source: str) -> str:
    """``<file name> entry <index> (image '<image>')`` for error messages."""
    return f'{os.path.basename(source)} entry {index} (image {entry.get("image")!r})'


def mpii_joints(entry: Mapping[str, Any], index: int, num_joints: int, source: str) -> np.ndarray:
    """(K, 2) float32 joints of an entry in 0-based pixels (the json is 1-based).

    Reads ``joints`` or ``gt_joints``.

    Raises:
        KeyError / ValueError: naming ``source`` and the entry when the joints are missing or
            their count is not ``num_joints``.
    """
    key = 'joints' if 'joints' in entry else 'gt_joints'
    if key not in entry:
        raise KeyError(f'{source} entry {index} (image {entry.get("image")!r}) has neither '
                       f'`joints` nor `gt_joints`')
    joints = np.asarray(entry[key], dtype=np.float32)
    if joints.ndim != 2 or joints.shape[1] < 2:
        raise ValueError(f'{source} entry {index}: `{key}` must be a list of [x, y], got shape '
                         f'{joints.shape}')
    if len(joints) != num_joints:
        raise ValueError(f'{_entry_name(entry, index, source)} has {len(joints)} keypoints but '
                         f'num_joints is {num_joints} (file: {source})')
    return joints[:, :2] - 1.0


def mpii_joints_vis(entry: Mapping[str, Any], index: int, num_joints: int,
                    source: str) -> np.ndarray:
    """(K,) float32 ``joints_vis`` of an entry (all ones when the entry has none).

    Raises:
        ValueError: naming ``source`` and the entry when there are not ``num_joints`` values.
    """
    vis = np.asarray(entry.get('joints_vis', np.ones(num_joints)), dtype=np.float32)
    if vis.shape != (num_joints,):
        raise ValueError(f'{_entry_name(entry, index, source)} has {vis.size} joints_vis '
                         f'values but num_joints is {num_joints} (file: {source})')
    return vis


def _center_size(entry: Mapping[str, Any]) -> Tuple[np.ndarray, float]:
    """0-based (2,) float32 centre and padded person height in pixels of an entry.

    When ``center[0] != -1`` the centre moves down by ``15 * scale`` px and the height grows
    by 1.25 (the reference MPII pipeline).
    """
    center = np.asarray(entry['center'], dtype=np.float32).copy()
    size = float(entry['scale'])
    if center[0] != -1:
        center[1] += _CENTER_SHIFT * size
        size *= _SCALE_PADDING
    center -= 1.0
    return center, size * MPII_PIXEL_STD


class MpiiPerson(NamedTuple):
    """One parsed MPII entry.

    Attributes:
        image: image file name, relative to the image folder.
        im_id: image id (:func:`mpii_image_id`).
        center: (2,) float32 0-based person centre (x, y) in pixels, shifted as described
            in :func:`parse_mpii_entry`.
        size_px: side of the square person box in pixels (padded height).
        joints: (K, 2) float32 0-based joints (x, y) in pixels.
        joints_vis: (K,) float32 visibility flags.
    """

    image: str
    im_id: int
    center: np.ndarray
    size_px: float
    joints: np.ndarray
    joints_vis: np.ndarray


def parse_mpii_entry(entry: Mapping[str, Any], index: int, num_joints: int,
                     source: str) -> MpiiPerson:
    """Parse and check entry ``index`` of the MPII json ``source``.

    ``joints`` and ``center`` become 0-based. When ``center[0] != -1`` the centre moves down by
    ``15 * scale`` px and the person height grows by 1.25. An unlabelled entry (no ``joints``
    nor ``gt_joints``, as in MPII's test split) gets K zero joints with visibility 0, for
    prediction.

    Raises:
        KeyError / ValueError: naming ``source`` and the entry when a key is missing or a
            labelled entry's joint count is not ``num_joints``.
    """
    for key in ('image', 'center', 'scale'):
        if key not in entry:
            raise KeyError(f'{source} entry {index} has no `{key}`')
    center, size_px = _center_size(entry)
    if mpii_is_labelled(entry):
        joints = mpii_joints(entry, index, num_joints, source)
        joints_vis = mpii_joints_vis(entry, index, num_joints, source)
    else:
        joints = np.zeros((num_joints, 2), dtype=np.float32)
        joints_vis = np.zeros(num_joints, dtype=np.float32)
    return MpiiPerson(image=entry['image'], im_id=mpii_image_id(entry, index), center=center,
                      size_px=size_px, joints=joints, joints_vis=joints_vis)
