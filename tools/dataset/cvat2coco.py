"""Convert a CVAT "CVAT for images 1.1" XML export (skeletons or points) to COCO keypoints.

    python tools/dataset/cvat2coco.py annotations.xml OUT_JSON \\
        --keypoints left_handle right_handle hinge left_jaw right_jaw \\
        [--category plier] [--skeleton 0-2 1-2 2-3 2-4]

Each ``<image>`` becomes a COCO image (``file_name`` is its ``name``, with its ``width`` and
``height``). Objects come from either annotation style:

- **skeletons**: each ``<skeleton>`` is one object; its ``<points>`` children are the
  keypoints, named by their ``label``;
- **points**: ``<points>`` elements (one point each) directly under ``<image>``, grouped into
  objects by ``group_id``; points without a ``group_id`` form one object.

A ``<box>`` with the ``group_id`` of an object is its box (a box without one belongs to the
points without one; a box that belongs to no points is an object without keypoints), else the
box is the extent of the points. ``outside="1"`` leaves a
keypoint out (0, 0, 0), ``occluded="1"`` writes v = 1, other points v = 2. A point label that
is not one of ``--keypoints`` is an error.
"""
import argparse
import sys
import xml.etree.ElementTree as ET
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ppkpt.data.coco import keypoint_annotation, keypoint_category, save_coco

from _common import add_common_arguments, parse_skeleton, run

Object = Tuple[List[List[float]], Optional[List[float]]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('xml', help='CVAT for images 1.1 annotations.xml')
    parser.add_argument('output', help='COCO json to write')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def _flag(element: ET.Element, name: str) -> bool:
    return element.get(name, '0').strip().lower() in ('1', 'true')


class ImageParser:
    """Turns one ``<image>`` element into keypoint rows and boxes, one per object."""

    def __init__(self, names: Sequence[str], source: str) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        if len(self.index) != len(names):
            raise ValueError(f'--keypoints has repeated names: {list(names)}')
        self.source = source

    def objects(self, image: ET.Element) -> List[Object]:
        """[(K keypoint rows (x, y, v), box or None), ...]: the skeletons, then the point
        groups, then boxes that belong to neither (objects without keypoints)."""
        where = f'{self.source} image {image.get("name")!r}'
        boxes = self._boxes(image, where)
        objects: List[Object] = []
        used = set()
        for skeleton in image.findall('skeleton'):
            group_id = skeleton.get('group_id')
            box = boxes.get(group_id) if group_id is not None else None
            objects.append((self._rows(self._points(skeleton.findall('points'), where)), box))
            used.add(group_id)
        groups: 'OrderedDict[Optional[str], List[ET.Element]]' = OrderedDict()
        for element in image.findall('points'):
            groups.setdefault(element.get('group_id'), []).append(element)
        for group_id, elements in groups.items():
            objects.append((self._rows(self._points(elements, where)), boxes.get(group_id)))
            used.add(group_id)
        objects.extend((self._rows({}), box) for group_id, box in boxes.items()
                       if group_id not in used)
        return objects

    def _boxes(self, image: ET.Element, where: str) -> Dict[Optional[str], List[float]]:
        """group_id -> [x, y, w, h] of the image's ``<box>`` elements."""
        boxes: Dict[Optional[str], List[float]] = {}
        for element in image.findall('box'):
            group_id = element.get('group_id')
            if group_id in boxes:
                raise ValueError(f'{where}: two boxes with group_id {group_id!r}')
            boxes[group_id] = self._box(element)
        return boxes

    def _points(self, elements: Sequence[ET.Element], where: str) -> Dict[int, List[float]]:
        """Joint id -> (x, y, v) of ``<points>`` elements, checked against ``--keypoints``."""
        found: Dict[int, List[float]] = {}
        seen = set()
        for element in elements:
            label = element.get('label')
            if label not in self.index:
                raise ValueError(f'{where}: point label {label!r} is not one of --keypoints '
                                 f'{list(self.index)}')
            joint = self.index[label]
            if joint in seen:
                raise ValueError(f'{where}: a second {label!r} point in one object; give each '
                                 f'object its own group_id (or use skeletons)')
            seen.add(joint)
            coords = element.get('points', '').split(';')
            if len(coords) != 1:
                raise ValueError(f'{where}: the {label!r} element holds {len(coords)} points; '
                                 f'draw one point per keypoint')
            if _flag(element, 'outside'):
                continue
            x, y = (float(v) for v in coords[0].split(','))
            found[joint] = [x, y, 1 if _flag(element, 'occluded') else 2]
        return found

    @staticmethod
    def _box(element: ET.Element) -> List[float]:
        x1, y1, x2, y2 = (float(element.get(key)) for key in ('xtl', 'ytl', 'xbr', 'ybr'))
        return [x1, y1, x2 - x1, y2 - y1]

    def _rows(self, points: Dict[int, List[float]]) -> List[List[float]]:
        return [points.get(j, [0.0, 0.0, 0]) for j in range(len(self.index))]


def convert(xml_path: str, names: Sequence[str], category: Dict[str, Any]) -> Dict[str, Any]:
    """The COCO dict of a CVAT export.

    Raises:
        FileNotFoundError: no such file.
        ValueError: for XML that does not parse or is not a CVAT export (file named).
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f'{xml_path} is not valid XML: {exc}') from exc
    if root.tag != 'annotations':
        raise ValueError(f'{xml_path}: the root element is <{root.tag}>, not <annotations>; '
                         f'export as "CVAT for images 1.1"')
    parser = ImageParser(names, xml_path)
    images, annotations = [], []
    for image_id, image in enumerate(root.iter('image'), start=1):
        images.append({'id': image_id, 'file_name': image.get('name'),
                       'width': int(image.get('width', 0)), 'height': int(image.get('height', 0))})
        for rows, box in parser.objects(image):
            annotations.append(keypoint_annotation(len(annotations) + 1, image_id,
                                                   category['id'], rows, box))
    return {'images': images, 'annotations': annotations, 'categories': [category]}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit code."""
    args = parse_args(argv)
    skeleton = parse_skeleton(args.skeleton, len(args.keypoints))
    category = keypoint_category(args.category, args.keypoints, skeleton)
    coco = save_coco(convert(args.xml, args.keypoints, category), args.output,
                     len(args.keypoints))
    print(f'{args.output}: {len(coco.images)} images, {coco.num_annotations} objects, '
          f'{len(args.keypoints)} keypoints')
    return 0


if __name__ == '__main__':
    sys.exit(run(main))
