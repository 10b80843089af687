"""MPII top-down keypoint dataset (the json list format of the HRNet / mmpose releases)."""
import os
from typing import Any, Callable, Dict, List, Mapping

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.data.datasets.base import KeypointTopDownBaseDataset
from ppkpt.data.mpii import load_mpii_entries, parse_mpii_entry
from ppkpt.data.topdown_records import topdown_joints, topdown_record

__all__ = ['KeypointTopDownMPIIDataset']


@register
@serializable
class KeypointTopDownMPIIDataset(KeypointTopDownBaseDataset):
    """Top-down records from an MPII json list of ``{image, center, scale, joints, joints_vis}``.

    Entries are parsed by :func:`ppkpt.data.mpii.parse_mpii_entry`: ``joints`` (or
    ``gt_joints``) and ``center`` are MATLAB 1-based and become 0-based. ``scale`` is the
    person height in units of 200 px; when ``center[0] != -1`` the centre moves down by
    ``15 * scale`` px and the scale grows by 1.25. The record scale is the square ``[s, s]``
    converted to ``pixel_std`` units. Unlabelled entries (``{image, center, scale}`` only, as in
    MPII's test split) load for prediction with zero ``gt_joints`` and ``joints_vis``.

    Args:
        dataset_dir: root folder of the dataset.
        image_dir: image folder relative to ``dataset_dir``.
        anno_path: MPII json relative to ``dataset_dir``.
        num_joints: K (16 for MPII); every labelled entry must have K joints.
        transform: built ops (callables) applied to each sample.
        pixel_std: pixels per ``scale`` unit in the records.
        skip_bad_images: skip unreadable images instead of raising (see the base class).
    """

    __shared__ = ['num_joints', 'pixel_std']

    def __init__(self, dataset_dir: str, image_dir: str, anno_path: str, num_joints: int,
                 transform: List[Callable] = [], pixel_std: int = 200,
                 skip_bad_images: bool = False) -> None:
        super().__init__(dataset_dir, image_dir, anno_path, num_joints, transform,
                         skip_bad_images)
        self.pixel_std = pixel_std

    def _load_records(self) -> List[Dict[str, Any]]:
        path = self.get_anno()
        entries = load_mpii_entries(path, type(self).__name__)
        return [self._record(i, entry, path) for i, entry in enumerate(entries)]

    def _record(self, index: int, entry: Mapping[str, Any], path: str) -> Dict[str, Any]:
        person = parse_mpii_entry(entry, index, self.num_joints, path)
        size = person.size_px / float(self.pixel_std)
        return topdown_record(os.path.join(self.img_prefix, person.image), person.im_id,
                              person.center, np.array([size, size], dtype=np.float32), 1.0,
                              *topdown_joints(person.joints, person.joints_vis))
