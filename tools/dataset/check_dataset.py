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
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from _dataset_checks import (DatasetSpec, DatasetStats, Report, check_coco_dataset,
                             check_metadata, dataset_specs)
from ppkpt.components import dataset_keypoint_category
from ppkpt.core.cli import exit_on_config_error
from ppkpt.core.workspace import (ConfigError, load_config, merge_config, parse_overrides,
                                  read_config)


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
