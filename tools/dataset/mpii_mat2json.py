"""Convert the MPII release .mat (``mpii_human_pose_v1_u12_1.mat``) to the json the MPII
dataset reads, with the head boxes PCKh needs.

    python tools/dataset/mpii_mat2json.py \\
        dataset/mpii/mpii_human_pose_v1_u12_2/mpii_human_pose_v1_u12_1.mat \\
        dataset/mpii/annotations/mpii_train.json [--split train|test|all]

Each annotated person (``annolist(i).annorect(r)`` with ``objpos`` and ``scale``) becomes one
entry, in file order, with coordinates kept MATLAB 1-based as in the release:

- ``image``, ``center`` ([x, y] from ``objpos``), ``scale`` (person height / 200 px);
- for the train split: ``joints`` (16 [x, y] in MPII joint-id order, [-1, -1] where the joint is
  not annotated), ``joints_vis`` (1 annotated, 0 not) and ``headbox`` ([x1, y1, x2, y2] from
  the rectangle's ``x1 y1 x2 y2``), which ``KeyPointTopDownMPIIEval`` uses for the head sizes
  when no ``headbox_file`` is set.

The test split (``img_train == 0``) has no joints: its entries have ``image``, ``center`` and
``scale`` only, for prediction. People without ``objpos`` or ``scale``, and train people without
annotated joints or without a head rectangle, are skipped and counted.
"""
import argparse
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.io

from ppkpt.data.coco import save_json

from _common import run

NUM_JOINTS = 16
MISSING = [-1.0, -1.0]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('mat', help='mpii_human_pose_v1_u12_1.mat')
    parser.add_argument('output', help='json to write')
    parser.add_argument('--split', choices=('train', 'test', 'all'), default='train',
                        help='images with img_train 1 (train), 0 (test) or both')
    return parser.parse_args(argv)


def _items(value: Any) -> List[Any]:
    """A MATLAB struct array, cell array or single struct as a list (an empty array -> [])."""
    if isinstance(value, np.ndarray):
        return list(value.flat)
    return [] if value is None else [value]


def _field(struct: Any, name: str) -> Any:
    """``struct.name``, or None when it is missing or an empty array."""
    value = getattr(struct, name, None)
    if isinstance(value, np.ndarray) and value.size == 0:
        return None
    return value


def _joints(rect: Any) -> Tuple[List[List[float]], List[int]]:
    """(16 [x, y], 16 visibility flags) of a rectangle's ``annopoints``."""
    joints = [list(MISSING) for _ in range(NUM_JOINTS)]
    visible = [0] * NUM_JOINTS
    annopoints = _field(rect, 'annopoints')
    for point in _items(_field(annopoints, 'point') if annopoints is not None else None):
        joint = int(_field(point, 'id'))
        if 0 <= joint < NUM_JOINTS:
            joints[joint] = [float(_field(point, 'x')), float(_field(point, 'y'))]
            visible[joint] = 1
    return joints, visible


def person_entry(image: str, rect: Any, labelled: bool) -> Optional[Dict[str, Any]]:
    """The json entry of one rectangle, or None when it cannot be one (see the module doc)."""
    objpos, scale = _field(rect, 'objpos'), _field(rect, 'scale')
    if objpos is None or scale is None or _field(objpos, 'x') is None:
        return None
    entry: Dict[str, Any] = {'image': image,
                             'center': [float(_field(objpos, 'x')), float(_field(objpos, 'y'))],
                             'scale': float(scale)}
    if not labelled:
        return entry
    joints, visible = _joints(rect)
    headbox = [_field(rect, key) for key in ('x1', 'y1', 'x2', 'y2')]
    if not any(visible) or any(v is None for v in headbox):
        return None
    entry.update(joints=joints, joints_vis=visible, headbox=[float(v) for v in headbox])
    return entry


def convert(path: str, split: str) -> Tuple[List[Dict[str, Any]], int]:
    """(entries, skipped rectangles) of the release .mat at ``path``.

    Raises:
        FileNotFoundError: no such file.
        KeyError: when the file has no ``RELEASE`` struct with ``annolist`` and ``img_train``.
    """
    release = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True).get('RELEASE')
    if release is None or _field(release, 'annolist') is None:
        raise KeyError(f'{path} has no RELEASE.annolist; is it mpii_human_pose_v1_u12_1.mat?')
    train_flags = np.atleast_1d(_field(release, 'img_train'))
    entries, skipped = [], 0
    for annotation, is_train in zip(_items(release.annolist), train_flags):
        if split != 'all' and bool(is_train) != (split == 'train'):
            continue
        name = str(_field(_field(annotation, 'image'), 'name'))
        for rect in _items(_field(annotation, 'annorect')):
            entry = person_entry(name, rect, bool(is_train))
            if entry is None:
                skipped += 1
            else:
                entries.append(entry)
    return entries, skipped


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit code."""
    args = parse_args(argv)
    entries, skipped = convert(args.mat, args.split)
    save_json(entries, args.output)
    print(f'{args.output}: {len(entries)} people ({args.split} split), {skipped} rectangles '
          f'without a usable person skipped')
    return 0


if __name__ == '__main__':
    sys.exit(run(main))
