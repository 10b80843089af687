"""MPII top-down keypoint dataset (the json list format of the HRNet / mmpose releases)."""
import os
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.data.datasets.base import KeypointTopDownBaseDataset, load_json

__all__ = ['KeypointTopDownMPIIDataset', 'mpii_image_id', 'mpii_joints', 'load_mpii_entries']

MPII_PIXEL_STD = 200.0
"""MPII ``scale`` values are person heights in units of 200 px."""
_CENTER_SHIFT = 15.0
_SCALE_PADDING = 1.25


def mpii_image_id(entry: Mapping[str, Any], index: int) -> int:
    """``image_id`` of an entry, else its numeric image file stem, else ``index``."""
    if 'image_id' in entry:
        return int(entry['image_id'])
    stem = os.path.splitext(os.path.basename(str(entry.get('image', ''))))[0]
    return int(stem) if stem.isdigit() else index


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
        raise ValueError(f'{os.path.basename(source)} entry {index} (image '
                         f'{entry.get("image")!r}) has {len(joints)} keypoints but num_joints '
                         f'is {num_joints} (file: {source})')
    return joints[:, :2] - 1.0


def load_mpii_entries(path: str, owner: str) -> List[Mapping[str, Any]]:
    """The entry list of an MPII json.

    Raises:
        FileNotFoundError / ValueError: naming ``path``.
    """
    entries = load_json(path, owner)
    if not isinstance(entries, list):
        raise ValueError(f'{owner}: {path} must be a json list of person entries')
    return entries


@register
@serializable
class KeypointTopDownMPIIDataset(KeypointTopDownBaseDataset):
    """Top-down records from an MPII json list of ``{image, center, scale, joints, joints_vis}``.

    ``joints`` (or ``gt_joints``) and ``center`` are MATLAB 1-based and become 0-based.
    ``scale`` is the person height in units of 200 px; when ``center[0] != -1`` the centre moves
    down by ``15 * scale`` px and the scale grows by 1.25. The
    record scale is the square ``[s, s]`` converted to ``pixel_std`` units.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir``.
        anno_path: MPII json relative to ``dataset_dir``.
        num_joints: K (16 for MPII); every entry must have K joints.
        transform: ops applied to each sample.
        pixel_std: pixels per ``scale`` unit in the records.
        skip_bad_images: skip unreadable images instead of raising (see the base class).
    """

    __shared__ = ['num_joints', 'pixel_std']

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, num_joints: int,
                 transform: List = [], pixel_std: int = 200,
                 skip_bad_images: bool = False) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, num_joints, transform,
                         skip_bad_images)
        self.pixel_std = pixel_std

    def _load_records(self) -> List[Dict[str, Any]]:
        path = self.get_anno()
        entries = load_mpii_entries(path, type(self).__name__)
        return [self._record(i, entry, path) for i, entry in enumerate(entries)]

    def _joints_vis(self, entry: Mapping[str, Any], index: int, path: str) -> np.ndarray:
        vis = np.asarray(entry.get('joints_vis', np.ones(self.num_joints)), dtype=np.float32)
        if vis.shape != (self.num_joints,):
            raise ValueError(f'{os.path.basename(path)} entry {index} (image '
                             f'{entry.get("image")!r}) has {vis.size} joints_vis values but '
                             f'num_joints is {self.num_joints} (file: {path})')
        out = np.zeros((self.num_joints, 3), dtype=np.float32)
        out[:, :2] = np.minimum(vis, 1.0)[:, None]
        return out

    def _center_scale(self, entry: Mapping[str, Any], index: int, path: str
                      ) -> Tuple[np.ndarray, np.ndarray]:
        for key in ('image', 'center', 'scale'):
            if key not in entry:
                raise KeyError(f'{path} entry {index} has no `{key}`')
        center = np.asarray(entry['center'], dtype=np.float32).copy()
        size = float(entry['scale'])
        if center[0] != -1:
            center[1] += _CENTER_SHIFT * size
            size *= _SCALE_PADDING
        center -= 1.0
        size_units = size * MPII_PIXEL_STD / float(self.pixel_std)
        return center, np.array([size_units, size_units], dtype=np.float32)

    def _record(self, index: int, entry: Mapping[str, Any], path: str) -> Dict[str, Any]:
        center, scale = self._center_scale(entry, index, path)
        gt_joints = np.zeros((self.num_joints, 3), dtype=np.float32)
        gt_joints[:, :2] = mpii_joints(entry, index, self.num_joints, path)
        return {'image_file': os.path.join(self.img_prefix, entry['image']),
                'im_id': mpii_image_id(entry, index), 'center': center, 'scale': scale,
                'rotate': 0.0, 'score': 1.0, 'gt_joints': gt_joints,
                'joints_vis': self._joints_vis(entry, index, path)}
