"""Merge COCO keypoint files into one, remapping keypoints where a source uses another set.

    python tools/dataset/merge_coco.py dataset/aic_coco_train.json \\
        --input dataset/coco/annotations/person_keypoints_train2017.json --prefix coco/train2017/ \\
        --input dataset/aic/annotations/aic_train.json --prefix aic/train/ \\
            --mapping tools/dataset/mappings/aic_to_coco.yml

``--prefix`` and ``--mapping`` apply to the ``--input`` before them. The first input decides
the keypoint set: its ``categories``, ``info`` and ``licenses`` are written out (when the first
input itself has a mapping, the category comes from the mapping's ``target_category``).

- An input without ``--mapping`` must have the output's K keypoints; its annotations keep their
  ``category_id``, which must be one of the output's categories.
- An input with ``--mapping`` (a YAML file, see ``tools/dataset/mappings/aic_to_coco.yml``) has
  its points moved to their target index, its visibility flags converted, points the mapping
  does not list dropped, and target points no source point fills set to 0, 0, 0. Its
  annotations get the mapping's target category. An annotation without a ``bbox`` gets the
  extent of its source points, so dropping points does not shrink its box.
- Image and annotation ids are renumbered from 1 across all inputs, ``file_name`` gets the
  input's ``--prefix`` (set ``image_dir: ''`` or the common parent folder in the config), and
  ``num_keypoints`` is recounted. Two images with the same prefixed ``file_name`` are an error.
"""
import argparse
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import yaml

from ppkpt.data.coco import (CocoFile, annotation_box_xywh, keypoint_category, load_json,
                             parse_coco, save_coco)
from ppkpt.metadata import PRESETS

from _common import run


@dataclass(frozen=True)
class KeypointMapping:
    """A keypoint remapping read from YAML.

    Attributes:
        source: the mapping file.
        source_num_joints: K of the source.
        target_num_joints: K of the output.
        keypoints: source index -> target index.
        visibility: source v -> target v for labelled points (v > 0).
        target_category: ``id``, ``name`` and optional ``preset`` of the output category.
    """

    source: str
    source_num_joints: int
    target_num_joints: int
    keypoints: Dict[int, int]
    visibility: Dict[int, int]
    target_category: Dict[str, Any]

    @classmethod
    def from_yaml(cls, path: str) -> 'KeypointMapping':
        """Read and check a mapping file.

        Raises:
            FileNotFoundError: no such file.
            KeyError / ValueError: a missing key, an index out of range or two source points
                sent to one target (the file named).
        """
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f) or {}
        for key in ('source_num_joints', 'target_num_joints', 'keypoints', 'visibility'):
            if key not in data:
                raise KeyError(f'{path}: mapping has no `{key}`')
        mapping = cls(path, int(data['source_num_joints']), int(data['target_num_joints']),
                      {int(k): int(v) for k, v in data['keypoints'].items()},
                      {int(k): int(v) for k, v in data['visibility'].items()},
                      dict(data.get('target_category') or {'id': 1, 'name': 'object'}))
        mapping.check()
        return mapping

    def check(self) -> None:
        """Raise ValueError for an index out of range or a target used twice."""
        for src, dst in self.keypoints.items():
            if not (0 <= src < self.source_num_joints and 0 <= dst < self.target_num_joints):
                raise ValueError(f'{self.source}: keypoints entry {src}: {dst} is out of range '
                                 f'for {self.source_num_joints} -> {self.target_num_joints} '
                                 f'keypoints')
        targets = list(self.keypoints.values())
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f'{self.source}: target keypoints {repeated} get more than one '
                             f'source point')
        if any(v not in (0, 1, 2) for v in self.visibility.values()):
            raise ValueError(f'{self.source}: visibility targets must be 0, 1 or 2, got '
                             f'{self.visibility}')

    def apply(self, keypoints: np.ndarray, where: str) -> np.ndarray:
        """(target K, 3) keypoints from (source K, 3) ones.

        Raises:
            ValueError: naming ``where`` for a labelled point whose v the mapping does not list.
        """
        out = np.zeros((self.target_num_joints, 3), dtype=np.float64)
        for src, dst in self.keypoints.items():
            x, y, v = keypoints[src]
            if v == 0:
                continue
            if int(v) not in self.visibility:
                raise ValueError(f'{where}: keypoint {src} has v={v:g}, which {self.source} '
                                 f'does not map (known: {sorted(self.visibility)})')
            new_v = self.visibility[int(v)]
            if new_v > 0:
                out[dst] = (x, y, new_v)
        return out

    def category(self) -> Dict[str, Any]:
        """The output category built from ``target_category`` (names from its preset)."""
        spec = self.target_category
        preset = PRESETS.get(spec.get('preset', ''))
        names = preset['names'] if preset else [f'kp{i}' for i in range(self.target_num_joints)]
        skeleton = preset['skeleton'] if preset else []
        return keypoint_category(spec.get('name', 'object'), names, skeleton,
                                 int(spec.get('id', 1)))


@dataclass
class Source:
    """One ``--input`` with its options."""

    path: str
    prefix: str = ''
    mapping: Optional[str] = None


class _SourceAction(argparse.Action):
    """``--input`` starts a source; ``--prefix`` / ``--mapping`` set the last one's options."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        sources: List[Source] = namespace.sources
        if self.dest == 'input':
            sources.append(Source(values))
        elif not sources:
            parser.error(f'{option_string} must follow the --input it applies to')
        else:
            setattr(sources[-1], self.dest, values)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('output', help='merged json to write')
    parser.set_defaults(sources=[])
    parser.add_argument('--input', action=_SourceAction, required=True,
                        help='a COCO keypoint json (repeat for each source)')
    parser.add_argument('--prefix', action=_SourceAction,
                        help='put before every file_name of the --input before it')
    parser.add_argument('--mapping', action=_SourceAction,
                        help='keypoint mapping YAML of the --input before it')
    return parser.parse_args(argv)


class Merger:
    """Collects images and annotations, renumbering ids and checking file names."""

    def __init__(self, categories: List[Dict[str, Any]]) -> None:
        self.categories = categories
        self.images: List[Dict[str, Any]] = []
        self.annotations: List[Dict[str, Any]] = []
        self._file_names: Dict[str, str] = {}

    def add(self, coco: CocoFile, source: Source, mapping: Optional[KeypointMapping]) -> None:
        """Append every image and annotation of one parsed input."""
        category_ids = {int(c['id']) for c in self.categories}
        target = int(mapping.target_category.get('id', 1)) if mapping else None
        if category_ids and target is not None and target not in category_ids:
            raise ValueError(f'{mapping.source}: target_category id {target} is not an output '
                             f'category {sorted(category_ids)}')
        for image in coco.images.values():
            image_id = self._add_image(image, source)
            for ann in coco.annotations[int(image['id'])]:
                where = f'{source.path} annotation id {ann.get("id")}'
                new = (self._mapped(ann, mapping, where) if mapping
                       else self._kept(ann, category_ids, where))
                new.update(id=len(self.annotations) + 1, image_id=image_id)
                self.annotations.append(new)

    def _add_image(self, image: Mapping[str, Any], source: Source) -> int:
        file_name = f'{source.prefix or ""}{image["file_name"]}'
        if file_name in self._file_names:
            raise ValueError(f'{source.path}: file_name {file_name!r} is also in '
                             f'{self._file_names[file_name]}; give the inputs different '
                             f'--prefix values')
        self._file_names[file_name] = source.path
        self.images.append({**image, 'id': len(self.images) + 1, 'file_name': file_name})
        return len(self.images)

    def _kept(self, ann: Mapping[str, Any], category_ids: set, where: str) -> Dict[str, Any]:
        if self.categories and int(ann.get('category_id', -1)) not in category_ids:
            raise ValueError(f'{where}: category_id {ann.get("category_id")!r} is not an '
                             f'output category {sorted(category_ids)}; give this input a '
                             f'--mapping')
        return dict(ann)

    def _mapped(self, ann: Mapping[str, Any], mapping: KeypointMapping,
                where: str) -> Dict[str, Any]:
        new = dict(ann)
        source_box = annotation_box_xywh(ann)
        if 'keypoints' in ann:
            source = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
            points = mapping.apply(source, where)
            new['keypoints'] = [float(v) if i % 3 < 2 else int(v)
                                for i, v in enumerate(points.reshape(-1))]
            new['num_keypoints'] = int((points[:, 2] > 0).sum())
        new['category_id'] = int(mapping.target_category.get('id', 1))
        if source_box is not None and annotation_box_xywh({'bbox': ann.get('bbox')}) is None:
            new['bbox'] = source_box
            new.setdefault('area', source_box[2] * source_box[3])
        return new

    def document(self, first: Mapping[str, Any]) -> Dict[str, Any]:
        """The merged COCO dict, with ``info`` and ``licenses`` of the first input."""
        out = {key: first[key] for key in ('info', 'licenses') if key in first}
        out.update(images=self.images, annotations=self.annotations, categories=self.categories)
        return out


def _output_set(data: Mapping[str, Any], path: str, mapping: Optional[KeypointMapping]
                ) -> Tuple[List[Dict[str, Any]], int]:
    """(categories, K) of the output, decided by the first input."""
    if mapping is not None:
        return [mapping.category()], mapping.target_num_joints
    categories = [dict(c) for c in data.get('categories') or []]
    for ann in data.get('annotations') or []:
        if isinstance(ann, dict) and 'keypoints' in ann:
            return categories, len(ann['keypoints']) // 3
    if categories and 'keypoints' in categories[0]:
        return categories, len(categories[0]['keypoints'])
    raise ValueError(f'{path}: the first input has no keypoints to decide K from')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit code."""
    args = parse_args(argv)
    mappings = [KeypointMapping.from_yaml(s.mapping) if s.mapping else None
                for s in args.sources]
    raws = [load_json(s.path, 'merge_coco') for s in args.sources]
    categories, num_joints = _output_set(raws[0], args.sources[0].path, mappings[0])
    merger = Merger(categories)
    for source, data, mapping in zip(args.sources, raws, mappings):
        if mapping is not None and mapping.target_num_joints != num_joints:
            raise ValueError(f'{source.mapping}: maps to {mapping.target_num_joints} keypoints '
                             f'but the output has {num_joints}')
        coco = parse_coco(data, source.path,
                          mapping.source_num_joints if mapping else num_joints)
        merger.add(coco, source, mapping)
        via = f' (mapped with {source.mapping})' if mapping else ''
        print(f'{source.path}: {len(coco.images)} images, {coco.num_annotations} '
              f'annotations{via}')
    merged = save_coco(merger.document(raws[0]), args.output, num_joints)
    print(f'{args.output}: {len(merged.images)} images, {merged.num_annotations} annotations, '
          f'{num_joints} keypoints')
    return 0


if __name__ == '__main__':
    sys.exit(run(main))
