"""Convert a WIDER FACE / RetinaFace ``label.txt`` to COCO keypoints (5 face landmarks).

    python tools/dataset/retinaface2coco.py dataset/widerface/train/label.txt OUT_JSON \\
        [--keypoints left_eye right_eye nose left_mouth right_mouth] [--category face]

The layout (RetinaFace's ``retinaface_gt`` release)::

    # 0--Parade/0_Parade_marchingband_1_849.jpg
    449 330 122 149 488.906 373.643 0.0 542.089 376.442 0.0 515.031 412.83 0.0 ... 0.82

A ``#`` line starts an image (its path, relative to the ``images`` folder; two integers after
it are taken as its width and height). Each following line is one face: the box ``x y w h``,
then five landmarks ``x y flag`` (flag 0 visible -> v = 2, 1 occluded -> v = 1, -1 missing ->
0, 0, 0), then anything else (the blur score), which is ignored. A line with only the box (the
val and test files) gives a face without landmarks. The landmark order is RetinaFace's: the
eye on the image's left first, then the other eye, the nose, the left and the right mouth
corner, hence the default names and their flip pairs.
"""
import argparse
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ppkpt.data.coco import keypoint_annotation, keypoint_category, save_coco

from _common import add_common_arguments, parse_skeleton, run

FACE_KEYPOINTS = ['left_eye', 'right_eye', 'nose', 'left_mouth', 'right_mouth']
NUM_LANDMARKS = 5
_FLAG_TO_V = {0: 2, 1: 1}

Face = Tuple[List[float], List[List[float]]]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('label_file', help='label.txt')
    parser.add_argument('output', help='COCO json to write')
    add_common_arguments(parser, keypoints=FACE_KEYPOINTS, category='face')
    return parser.parse_args(argv)


def parse_face(values: Sequence[float], where: str) -> Face:
    """(box [x, y, w, h], 5 landmark rows (x, y, v)) of one face line.

    Raises:
        ValueError: naming ``where`` for a line with fewer than 4 numbers or a cut landmark
            list.
    """
    if len(values) < 4:
        raise ValueError(f'{where}: a face line needs at least x y w h, got {len(values)} '
                         f'numbers')
    landmarks = [[0.0, 0.0, 0] for _ in range(NUM_LANDMARKS)]
    extra = values[4:]
    if extra:
        if len(extra) < 3 * NUM_LANDMARKS:
            raise ValueError(f'{where}: {len(extra)} numbers after the box; five landmarks '
                             f'need 15 (x y flag each)')
        for i in range(NUM_LANDMARKS):
            x, y, flag = extra[3 * i:3 * i + 3]
            if flag >= 0 and x >= 0 and y >= 0:
                landmarks[i] = [x, y, _FLAG_TO_V.get(int(flag), 2)]
    return [float(v) for v in values[:4]], landmarks


def read_label_file(path: str) -> Iterator[Tuple[Dict[str, Any], List[Face]]]:
    """Yield (COCO image entry without id, its faces) per ``#`` block, in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and line for a face before the first ``#`` line or a
            value that is not a number.
    """
    image: Optional[Dict[str, Any]] = None
    faces: List[Face] = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            where = f'{path} line {number}'
            if not text:
                continue
            if text.startswith('#'):
                if image is not None:
                    yield image, faces
                image, faces = _image_entry(text[1:].split()), []
                continue
            if image is None:
                raise ValueError(f'{where}: a face before the first "# image" line')
            try:
                values = [float(v) for v in text.split()]
            except ValueError:
                raise ValueError(f'{where}: not a list of numbers: {text[:60]!r}') from None
            faces.append(parse_face(values, where))
    if image is not None:
        yield image, faces


def _image_entry(tokens: Sequence[str]) -> Dict[str, Any]:
    """``{'file_name', ['width', 'height']}`` from the words of a ``#`` line."""
    entry: Dict[str, Any] = {'file_name': tokens[0] if tokens else ''}
    if len(tokens) >= 3 and tokens[1].isdigit() and tokens[2].isdigit():
        entry.update(width=int(tokens[1]), height=int(tokens[2]))
    return entry


def convert(path: str, category: Dict[str, Any]) -> Dict[str, Any]:
    """The COCO dict of a label file."""
    images, annotations = [], []
    for image_id, (image, faces) in enumerate(read_label_file(path), start=1):
        images.append({'id': image_id, **image})
        for box, landmarks in faces:
            annotations.append(keypoint_annotation(len(annotations) + 1, image_id,
                                                   category['id'], landmarks, box))
    return {'images': images, 'annotations': annotations, 'categories': [category]}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; returns the exit code."""
    args = parse_args(argv)
    if len(args.keypoints) != NUM_LANDMARKS:
        raise ValueError(f'--keypoints needs {NUM_LANDMARKS} names, got {len(args.keypoints)}')
    skeleton = parse_skeleton(args.skeleton, NUM_LANDMARKS)
    category = keypoint_category(args.category, args.keypoints, skeleton)
    coco = save_coco(convert(args.label_file, category), args.output, NUM_LANDMARKS)
    print(f'{args.output}: {len(coco.images)} images, {coco.num_annotations} faces')
    return 0


if __name__ == '__main__':
    sys.exit(run(main))
