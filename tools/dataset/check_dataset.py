"""Check a dataset against its config before training.

    python tools/dataset/check_dataset.py -c CONFIG [-o key=value ...] [--no-decode]

The keypoint metadata of the config (after ``-o``):

- ``num_joints`` is a positive integer, ``keypoint_names`` has K unique names, ``sigmas`` has K
  positive values;
- ``flip_perm`` is a list of [left, right] pairs of valid, distinct joints. A flat permutation
  (``[0, 2, 1, 4, 3]``) is an error that shows the pairs it stands for. When the names have
  left/right partners and the pairs disagree with them, a warning names each wrong pair and
  suggests the pairs the names give.

Then every COCO dataset of the config (``TrainDataset``, ``EvalDataset``, ...):

- the json parses; its category has K keypoints, in the config's name order;
- every image exists and decodes (``--no-decode``: exists), at the size the json states;
- every annotation has K keypoints with v in {0, 1, 2}, a box (``bbox`` or the extent of its
  labelled points) and a positive ``area`` (or one derivable from the box); no annotation id
  repeats and no annotation duplicates another; no labelled keypoint lies outside its image.

It prints each problem with the file and annotation id, a summary table and a per-keypoint
visibility histogram, and exits with 1 when there is an error (warnings alone exit 0). The
config itself is then loaded as training would load it, so unknown keys are reported too.
"""
import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ppkpt.components import dataset_keypoint_category
from ppkpt.core.cli import exit_on_config_error
from ppkpt.core.workspace import (ConfigError, LazyObject, load_config, merge_config,
                                  parse_overrides, read_config)
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


# --------------------------------------------------------------------------- output


def summary_table(results: Sequence[Tuple[DatasetSpec, DatasetStats]]) -> List[str]:
    """The per-dataset summary lines."""
    header = (f'{"dataset":14s} {"images":>7s} {"bad img":>7s} {"anns":>7s} {"with kp":>7s} '
              f'{"box drv":>7s} {"area drv":>8s} {"errors":>6s} {"warns":>6s}  json')
    lines = [header, '-' * len(header)]
    for spec, stats in results:
        counts = (f'{stats.images:7d} {stats.bad_images:7d} {stats.annotations:7d} '
                  f'{stats.with_keypoints:7d} {stats.derived_boxes:7d} {stats.derived_areas:8d}'
                  if stats.readable else f'{"(unreadable json)":>46s}')
        lines.append(f'{spec.key:14s} {counts} {stats.errors:6d} {stats.warnings:6d}  '
                     f'{spec.anno_path}')
    return lines


def visibility_histogram(spec: DatasetSpec, stats: DatasetStats, names: Sequence[str],
                         width: int = 30) -> List[str]:
    """Per-keypoint counts of v = 0, 1, 2 with a bar of the labelled share."""
    lines = [f'{spec.key}: keypoint visibility (v=0 unlabelled, 1 occluded, 2 visible)',
             f'{"id":>3s}  {"name":20s} {"v=0":>7s} {"v=1":>7s} {"v=2":>7s}  labelled']
    total = max(int(stats.visibility.sum(axis=1).max(initial=0)), 1)   # annotations counted
    for j, (v0, v1, v2) in enumerate(stats.visibility.tolist()):
        share = (v1 + v2) / total
        bar = '#' * int(round(share * width))
        lines.append(f'{j:3d}  {names[j][:20]:20s} {v0:7d} {v1:7d} {v2:7d}  '
                     f'{bar:{width}s} {100 * share:5.1f}%')
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-c', '--config', required=True, help='the training config')
    parser.add_argument('-o', '--opt', nargs='*', default=[], help='key=value overrides')
    parser.add_argument('--no-decode', action='store_true',
                        help='check that images exist without decoding them (faster)')
    return parser.parse_args(argv)


def check_config_loads(path: str, options: List[str], report: Report) -> None:
    """Load the config as training does; a ConfigError (an unknown key, ...) is an error."""
    try:
        load_config(path, options)
    except ConfigError as exc:
        report.error('config', path, str(exc))


def _dataset_category(raw: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The dataset's keypoint category when the config names neither a preset nor names (as
    training reads it); None when there is none or the json is unreadable (reported later)."""
    if raw.get('keypoint_preset') or raw.get('keypoint_names'):
        return None
    try:
        return dataset_keypoint_category(raw)
    except (KeyError, ValueError):
        return None


def run_checks(args: argparse.Namespace) -> Tuple[Report, List[str]]:
    """(findings, summary and histogram lines) for the parsed command line."""
    raw = read_config(args.config)
    if args.opt:
        raw = merge_config(parse_overrides(args.opt), raw)
    report = Report()
    meta = check_metadata(raw, _dataset_category(raw), report)
    if report.count('error') == 0:
        check_config_loads(args.config, args.opt, report)
    num_joints = meta.num_joints if meta is not None else raw.get('num_joints')
    if not isinstance(num_joints, int) or num_joints <= 0:
        return report, []
    results = [(spec, check_coco_dataset(spec, meta, num_joints, not args.no_decode, report))
               for spec in dataset_specs(raw)]
    lines = summary_table(results)
    names = list(meta.names) if meta is not None else [f'kp{j}' for j in range(num_joints)]
    for spec, stats in results:
        if stats.readable:
            lines += [''] + visibility_histogram(spec, stats, names)
    return report, lines


@exit_on_config_error
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the checks and print them; returns the exit code (1 when there is an error)."""
    args = parse_args(argv)
    report, lines = run_checks(args)
    for line in report.lines() + [''] + lines:
        print(line)
    errors, warnings = report.count('error'), report.count('warning')
    print(f'\n{errors} error(s), {warnings} warning(s)'
          f'{": fix the errors before training" if errors else ""}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
