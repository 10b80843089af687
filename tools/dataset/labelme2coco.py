"""Convert labelme annotations (point shapes, an optional rectangle per object) to COCO keypoints.

    python tools/dataset/labelme2coco.py LABELME_DIR OUT_JSON \\
        --keypoints left_handle right_handle hinge left_jaw right_jaw \\
        [--category plier] [--skeleton 0-2 1-2 2-3 2-4]

Every ``*.json`` under ``LABELME_DIR`` (sorted, subfolders included) is one image; its
``file_name`` is the image (``imagePath``) relative to ``LABELME_DIR``, so the config's
``image_dir`` is ``LABELME_DIR``. In labelme:

- each keypoint is a **point** shape whose label is one of ``--keypoints``; a label that is not
  one is an error (a typo would otherwise drop the point silently);
- the shapes of one object share a **group id**; with a single object per image, leave it
  empty. An optional **rectangle** in the group is the object's box, else the box is the
  extent of its points;
- a point with the shape flag ``occluded`` checked is written with v = 1, other points with
  v = 2; keypoints an object lacks are 0, 0, 0.

Other shape types (polygons, lines) are skipped and counted.
"""
import argparse
import glob
import os
import sys
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ppkpt.data.coco import keypoint_annotation, keypoint_category, load_json, save_coco

from _common import add_common_arguments, parse_skeleton, run

GroupKey = Optional[int]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('labelme_dir', help='folder with the labelme json files and images')
    parser.add_argument('output', help='COCO json to write')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def _shape_points(shape: Mapping[str, Any], count: int, where: str) -> List[List[float]]:
    """The shape's ``points``, checked to be ``count`` [x, y] pairs."""
    points = shape.get('points') or []
    if len(points) != count or not all(len(p) == 2 for p in points):
        raise ValueError(f'{where}: a {shape.get("shape_type")} needs {count} [x, y] '
                         f'point(s), got {points!r}')
    return [[float(x), float(y)] for x, y in points]


class ImageConverter:
    """Turns one labelme file into keypoint rows and boxes, one per group."""

    def __init__(self, names: Sequence[str]) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        if len(self.index) != len(names):
            raise ValueError(f'--keypoints has repeated names: {list(names)}')
        self.skipped = 0

    def objects(self, shapes: Sequence[Mapping[str, Any]], source: str
                ) -> List[Tuple[List[List[float]], Optional[List[float]]]]:
        """[(K keypoint rows (x, y, v), box or None), ...] in the order groups first appear."""
        groups: 'OrderedDict[GroupKey, Dict[str, Any]]' = OrderedDict()
        for i, shape in enumerate(shapes):
            kind = shape.get('shape_type', 'polygon')
            if kind not in ('point', 'rectangle'):
                self.skipped += 1
                continue
            group = groups.setdefault(shape.get('group_id'), {'points': {}, 'box': None})
            where = f'{source} shapes[{i}] (label {shape.get("label")!r})'
            if kind == 'point':
                self._add_point(group, shape, where)
            else:
                self._add_box(group, shape, where)
        return [(self._rows(g['points']), g['box']) for g in groups.values()]

    def _add_point(self, group: Dict[str, Any], shape: Mapping[str, Any], where: str) -> None:
        label = shape.get('label')
        if label not in self.index:
            raise ValueError(f'{where}: label is not one of --keypoints {list(self.index)}')
        joint = self.index[label]
        if joint in group['points']:
            raise ValueError(f'{where}: a second {label!r} point in group '
                             f'{shape.get("group_id")!r}; give each object its own group id')
        x, y = _shape_points(shape, 1, where)[0]
        visible = 1 if (shape.get('flags') or {}).get('occluded') else 2
        group['points'][joint] = [float(x), float(y), visible]

    @staticmethod
    def _add_box(group: Dict[str, Any], shape: Mapping[str, Any], where: str) -> None:
        if group['box'] is not None:
            raise ValueError(f'{where}: a second rectangle in group {shape.get("group_id")!r}')
        (x1, y1), (x2, y2) = _shape_points(shape, 2, where)
        left, top = min(x1, x2), min(y1, y2)
        group['box'] = [float(left), float(top), float(abs(x2 - x1)), float(abs(y2 - y1))]

    def _rows(self, points: Mapping[int, List[float]]) -> List[List[float]]:
        return [points.get(j, [0.0, 0.0, 0]) for j in range(len(self.index))]


def image_entry(labelme: Mapping[str, Any], json_path: str, root: str, image_id: int
                ) -> Dict[str, Any]:
    """The COCO ``images`` entry of one labelme file.

    Raises:
        KeyError: naming the file when it has no ``imagePath``.
    """
    if 'imagePath' not in labelme:
        raise KeyError(f'{json_path} has no `imagePath`; is it a labelme file?')
    image_path = os.path.normpath(os.path.join(os.path.dirname(json_path), labelme['imagePath']))
    entry: Dict[str, Any] = {'id': image_id,
                             'file_name': os.path.relpath(image_path, root).replace(os.sep, '/')}
    if 'imageWidth' in labelme and 'imageHeight' in labelme:
        entry.update(width=int(labelme['imageWidth']), height=int(labelme['imageHeight']))
    return entry


def convert(root: str, names: Sequence[str], category: Dict[str, Any]
            ) -> Tuple[Dict[str, Any], int]:
    """(COCO dict, number of skipped shapes) of every labelme file under ``root``.

    Raises:
        FileNotFoundError: when ``root`` holds no json file.
    """
    paths = sorted(glob.glob(os.path.join(root, '**', '*.json'), recursive=True))
    if not paths:
        raise FileNotFoundError(f'no labelme .json files under {root}')
    converter = ImageConverter(names)
    images, annotations = [], []
    for image_id, path in enumerate(paths, start=1):
        labelme = load_json(path, 'labelme2coco')
        images.append(image_entry(labelme, path, root, image_id))
        for rows, box in converter.objects(labelme.get('shapes') or [], path):
            annotations.append(keypoint_annotation(len(annotations) + 1, image_id,
                                                   category['id'], rows, box))
    return ({'images': images, 'annotations': annotations, 'categories': [category]},
            converter.skipped)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit code."""
    args = parse_args(argv)
    skeleton = parse_skeleton(args.skeleton, len(args.keypoints))
    category = keypoint_category(args.category, args.keypoints, skeleton)
    data, skipped = convert(args.labelme_dir, args.keypoints, category)
    coco = save_coco(data, args.output, len(args.keypoints))
    note = f' ({skipped} shapes that are neither points nor rectangles skipped)' if skipped else ''
    print(f'{args.output}: {len(coco.images)} images, {coco.num_annotations} objects, '
          f'{len(args.keypoints)} keypoints{note}')
    return 0


if __name__ == '__main__':
    sys.exit(run(main))
