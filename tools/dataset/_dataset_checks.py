"""The checks of ``check_dataset.py``: the config's keypoint metadata and every annotation of
its COCO datasets, each problem recorded as a :class:`Finding` in a :class:`Report`."""
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ppkpt.core.workspace import LazyObject
from ppkpt.data.coco import CocoFile, annotation_box_xywh, load_json, parse_coco
from ppkpt.image_io import ImageReadError, read_rgb
from ppkpt.metadata import KeypointMeta, derive_flip_pairs

MAX_PER_KIND = 20
"""Findings of one kind printed in full; the rest are counted."""
VISIBILITY_VALUES = (0, 1, 2)


# --------------------------------------------------------------------------- findings


@dataclass
class Finding:
    """One problem: ``level`` 'error' or 'warning', ``kind`` (groups similar findings),
    ``where`` (file and annotation id) and what is wrong."""

    level: str
    kind: str
    where: str
    message: str


@dataclass
class Report:
    """Every finding, in the order found."""

    findings: List[Finding] = field(default_factory=list)

    def error(self, kind: str, where: str, message: str) -> None:
        """Record an error."""
        self.findings.append(Finding('error', kind, where, message))

    def warning(self, kind: str, where: str, message: str) -> None:
        """Record a warning."""
        self.findings.append(Finding('warning', kind, where, message))

    def count(self, level: str, since: int = 0, kind: Optional[str] = None) -> int:
        """Findings of ``level`` (and ``kind``) among those after the first ``since``."""
        return sum(1 for f in self.findings[since:]
                   if f.level == level and kind in (None, f.kind))

    def lines(self) -> List[str]:
        """``ERROR where: message`` lines, at most :data:`MAX_PER_KIND` per kind."""
        shown: Counter = Counter()
        out = []
        for finding in self.findings:
            shown[finding.kind] += 1
            if shown[finding.kind] <= MAX_PER_KIND:
                out.append(f'{finding.level.upper():7s} {finding.where}: {finding.message}')
        for kind, total in shown.items():
            if total > MAX_PER_KIND:
                out.append(f'...     {total - MAX_PER_KIND} more `{kind}` findings not shown')
        return out


# --------------------------------------------------------------------------- metadata


def _is_pair(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) == 2 and \
        all(isinstance(j, int) and not isinstance(j, bool) for j in item)


def flip_pairs_of(value: Any, num_joints: int, report: Report) -> Optional[List[List[int]]]:
    """The declared ``flip_perm`` as pairs, or None when it cannot be read as pairs.

    A flat permutation (an involution of ``range(K)``) is reported as an error and converted,
    so the pairs can still be compared with the names.
    """
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        if sorted(items) == list(range(num_joints)) and all(items[items[i]] == i
                                                            for i in range(num_joints)):
            pairs = [[i, j] for i, j in enumerate(items) if j > i]
            report.error('flip_perm', 'flip_perm',
                         f'{items} is a flat permutation; ppkpt takes [left, right] pairs. It '
                         f'stands for flip_perm: {pairs}')
            return pairs
        report.error('flip_perm', 'flip_perm', f'{items} is neither [left, right] pairs nor a '
                                               f'permutation of 0..{num_joints - 1}')
        return None
    if not all(_is_pair(item) for item in items):
        report.error('flip_perm', 'flip_perm', f'{value!r} must be a list of [left, right] '
                                               f'integer pairs')
        return None
    return _checked_pairs([list(p) for p in items], num_joints, report)


def _checked_pairs(pairs: List[List[int]], num_joints: int, report: Report
                   ) -> Optional[List[List[int]]]:
    """``pairs`` when every joint is in range, not paired with itself and used once."""
    owner: Dict[int, int] = {}
    problems = []
    for i, (a, b) in enumerate(pairs):
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            problems.append(f'pair {i} {[a, b]} is out of range for num_joints={num_joints}')
        elif a == b:
            problems.append(f'pair {i} {[a, b]} pairs joint {a} with itself')
        for joint in (a, b):
            if joint in owner and owner[joint] != i:
                problems.append(f'joint {joint} is in pairs {owner[joint]} and {i}')
            owner[joint] = i
    for problem in problems:
        report.error('flip_perm', 'flip_perm', problem)
    return None if problems else pairs


def compare_flip_pairs(names: Sequence[str], pairs: Sequence[Sequence[int]],
                       report: Report) -> None:
    """Warn when the flip pairs disagree with the left/right partners the names give."""
    derived = derive_flip_pairs(names)
    if not derived:
        return
    wanted = {frozenset(p) for p in derived}
    declared = {frozenset(p) for p in pairs}
    if wanted == declared:
        return
    wrong = [f'{list(p)} ({names[p[0]]} <-> {names[p[1]]})' for p in pairs
             if frozenset(p) not in wanted]
    missing = [f'{p} ({names[p[0]]} <-> {names[p[1]]})' for p in derived
               if frozenset(p) not in declared]
    parts = []
    if wrong:
        parts.append(f'pairs that swap joints the names do not pair: {", ".join(wrong)}')
    if missing:
        parts.append(f'left/right partners not paired: {", ".join(missing)}')
    report.warning('flip_perm_names', 'flip_perm',
                   f'{"; ".join(parts)}. The names {list(names)} give flip_perm: {derived}')


def _check_names(names: Any, num_joints: int, report: Report) -> None:
    if names is None:
        return
    if len(names) != num_joints:
        report.error('names', 'keypoint_names',
                     f'{len(names)} names but num_joints is {num_joints}')
    first: Dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            report.error('names', 'keypoint_names',
                         f'name {name!r} is used by joints {first[name]} and {i}')
        first.setdefault(name, i)


def _check_sigmas(sigmas: Any, num_joints: int, report: Report) -> None:
    if sigmas is None:
        return
    if len(sigmas) != num_joints:
        report.error('sigmas', 'sigmas', f'{len(sigmas)} values but num_joints is {num_joints}')
    elif any(not isinstance(s, (int, float)) or s <= 0 for s in sigmas):
        report.error('sigmas', 'sigmas', f'every sigma must be a positive number: {sigmas}')


def check_metadata(raw: Mapping[str, Any], category: Optional[Mapping[str, Any]],
                   report: Report) -> Optional[KeypointMeta]:
    """Check the keypoint keys of ``raw``; returns the metadata when it can be built.

    Args:
        raw: the config after ``-o``, before the metadata is filled in.
        category: the dataset's COCO category (names when the config gives none).
        report: where findings go.
    """
    num_joints = raw.get('num_joints')
    if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints <= 0:
        report.error('num_joints', 'num_joints', f'must be a positive integer, got {num_joints!r}')
        return None
    errors_before = report.count('error')
    _check_names(raw.get('keypoint_names'), num_joints, report)
    _check_sigmas(raw.get('sigmas'), num_joints, report)
    pairs = flip_pairs_of(raw.get('flip_perm'), num_joints, report)
    if report.count('error') > errors_before:
        names = raw.get('keypoint_names')
        if names and pairs is not None and len(names) == num_joints:
            compare_flip_pairs(names, pairs, report)
        return None
    try:
        meta = KeypointMeta.from_config(raw, category)
    except (KeyError, ValueError) as exc:
        report.error('metadata', 'metadata', str(exc.args[0] if exc.args else exc))
        return None
    compare_flip_pairs(meta.names, meta.flip_pairs, report)
    return meta


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class DatasetSpec:
    """A COCO dataset section of the config: its key, json and image folder."""

    key: str
    anno_path: str
    image_root: str


def dataset_specs(cfg: Mapping[str, Any]) -> List[DatasetSpec]:
    """The COCO-json datasets of the config (``*Dataset`` tags with a ``.json`` anno_path)."""
    specs = []
    for key, value in cfg.items():
        if not (str(key).endswith('Dataset') and isinstance(value, LazyObject)):
            continue
        kwargs = value.kwargs
        anno = str(kwargs.get('anno_path', ''))
        if 'MPII' in value.name or not anno.endswith('.json'):
            continue
        root = str(kwargs.get('dataset_dir', ''))
        specs.append(DatasetSpec(key, os.path.join(root, anno),
                                 os.path.join(root, str(kwargs.get('image_dir', '')))))
    return specs


@dataclass
class DatasetStats:
    """What the summary table and the histogram show for one dataset.

    ``visibility`` is (K, 3): per keypoint, the annotations with v = 0, 1 and 2; None when the
    json could not be read (``readable`` False).
    """

    readable: bool = True
    images: int = 0
    bad_images: int = 0
    annotations: int = 0
    with_keypoints: int = 0
    derived_boxes: int = 0
    derived_areas: int = 0
    errors: int = 0
    warnings: int = 0
    visibility: Optional[np.ndarray] = None


def _ann_name(ann: Mapping[str, Any], index: int) -> str:
    """``annotation id N``, or ``annotations[index]`` for an annotation without an id."""
    return f'annotation id {ann["id"]}' if 'id' in ann else f'annotations[{index}]'


def check_category(coco: CocoFile, meta: Optional[KeypointMeta], num_joints: int,
                   report: Report) -> None:
    """The category's keypoint count and name order against the config."""
    for category in coco.categories.values():
        names = category.get('keypoints')
        if not names:
            continue
        where = f'{coco.source}: category {category.get("name", category["id"])!r}'
        if len(names) != num_joints:
            report.error('category', where, f'lists {len(names)} keypoints but num_joints is '
                                            f'{num_joints}')
        elif meta is not None and list(names) != list(meta.names):
            message = f'keypoint names {list(names)} are not the config\'s {list(meta.names)}'
            if sorted(names) == sorted(meta.names):
                report.error('category', where, f'{message}: the same names in another order, '
                                                f'so the keypoints would be swapped')
            else:
                report.warning('category', where, message)


def check_duplicates(annotations: Sequence[Mapping[str, Any]], path: str,
                     report: Report) -> None:
    """Repeated annotation ids, and annotations identical to an earlier one."""
    ids: Counter = Counter(ann.get('id') for ann in annotations if 'id' in ann)
    for ann_id, count in ids.items():
        if count > 1:
            report.error('duplicate', f'{path}: annotation id {ann_id}',
                         f'the id is used by {count} annotations')
    seen: Dict[Tuple, str] = {}
    for i, ann in enumerate(annotations):
        key = (ann.get('image_id'), ann.get('category_id'), tuple(ann.get('keypoints') or ()),
               tuple(ann.get('bbox') or ()))
        name = _ann_name(ann, i)
        if key in seen:
            report.error('duplicate', f'{path}: {name}', f'duplicates {seen[key]} (same image, '
                                                         f'keypoints and box)')
        else:
            seen[key] = name


def image_size(coco: CocoFile, im_id: int, image_root: str, decode: bool,
               report: Report) -> Optional[Tuple[float, float]]:
    """(w, h) of an image: decoded (checked against the json) or from the json; None when the
    image is missing or unreadable (reported)."""
    image = coco.images[im_id]
    path = os.path.join(image_root, image['file_name'])
    where = f'{coco.source}: image id {im_id}'
    stated = (float(image['width']), float(image['height'])) \
        if image.get('width') and image.get('height') else None
    if not os.path.isfile(path):
        report.error('image', where, f'image file not found: {path}')
        return None
    if not decode:
        return stated
    try:
        height, width = read_rgb(path).shape[:2]
    except ImageReadError as exc:
        report.error('image', where, str(exc))
        return None
    if stated is not None and stated != (width, height):
        report.error('image_size', where, f'the json says {stated[0]:g}x{stated[1]:g} but '
                                          f'{path} is {width}x{height}')
    return float(width), float(height)


def check_annotation(ann: Mapping[str, Any], where: str, num_joints: int,
                     names: Sequence[str], size: Optional[Tuple[float, float]],
                     stats: DatasetStats, report: Report) -> None:
    """Keypoint count and flags, box and area, keypoints inside the image."""
    stats.annotations += 1
    box = annotation_box_xywh(ann)
    bbox = ann.get('bbox')
    if box is None:
        report.error('box', where, 'no bbox and its labelled keypoints span no area; add a '
                                   'bbox')
    elif bbox is None or annotation_box_xywh({'bbox': bbox}) is None:
        stats.derived_boxes += 1
    if 'area' not in ann:
        stats.derived_areas += 1
    elif not float(ann['area']) > 0:
        report.error('area', where, f'area is {ann["area"]}; the dataset skips it. Remove the '
                                    f'key to derive it from the box')
    if 'keypoints' not in ann:
        report.warning('keypoints', where, 'no keypoints (a box only): not used for training')
        return
    kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
    if len(kpts) != num_joints:
        report.error('num_keypoints', where, f'{len(kpts)} keypoints but num_joints is '
                                             f'{num_joints}')
        return
    _check_points(kpts, where, names, size, stats, report)


def _check_points(kpts: np.ndarray, where: str, names: Sequence[str],
                  size: Optional[Tuple[float, float]], stats: DatasetStats,
                  report: Report) -> None:
    flags = kpts[:, 2]
    bad = [int(j) for j in np.nonzero(~np.isin(flags, VISIBILITY_VALUES))[0]]
    for j in bad:
        report.error('visibility', where, f'keypoint {j} ({names[j]}) has v={flags[j]:g}; v must '
                                          f'be 0 (unlabelled), 1 (occluded) or 2 (visible)')
    if (flags > 0).any():
        stats.with_keypoints += 1
    for value in VISIBILITY_VALUES:
        stats.visibility[:, value] += flags == value
    if size is None:
        return
    width, height = size
    for j in np.nonzero(flags > 0)[0]:
        x, y = kpts[j, :2]
        if x < 0 or y < 0 or x > width or y > height:
            report.error('outside', where, f'keypoint {j} ({names[j]}) at ({x:g}, {y:g}) lies '
                                           f'outside the {width:g}x{height:g} image')


def check_coco_dataset(spec: DatasetSpec, meta: Optional[KeypointMeta], num_joints: int,
                       decode: bool, report: Report) -> DatasetStats:
    """Every check of one dataset, and its counts."""
    start = len(report.findings)
    try:
        data = load_json(spec.anno_path, spec.key)
        coco = parse_coco(data, spec.anno_path)
    except (FileNotFoundError, KeyError, ValueError, TypeError) as exc:
        report.error('json', spec.anno_path, str(exc.args[0] if exc.args else exc))
        return DatasetStats(readable=False, errors=1)
    names = list(meta.names) if meta is not None else [f'kp{j}' for j in range(num_joints)]
    stats = DatasetStats(images=len(coco.images),
                         visibility=np.zeros((num_joints, len(VISIBILITY_VALUES)), dtype=np.int64))
    check_category(coco, meta, num_joints, report)
    check_duplicates(data['annotations'], spec.anno_path, report)
    index = {id(ann): i for i, ann in enumerate(data['annotations'])}
    for im_id, anns in coco.annotations.items():
        size = image_size(coco, im_id, spec.image_root, decode, report)
        for ann in anns:
            where = f'{spec.anno_path}: {_ann_name(ann, index[id(ann)])}'
            check_annotation(ann, where, num_joints, names, size, stats, report)
    stats.bad_images = report.count('error', start, 'image')
    stats.errors, stats.warnings = report.count('error', start), report.count('warning', start)
    return stats
