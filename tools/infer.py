"""Run a trained top-down model on images, draw the skeletons and save a JSON of the keypoints.

The people are cropped with boxes from, in order of preference: a COCO-results ``--bbox_file``
(``image_id`` matched to the image's numeric file stem, or a ``file_name`` entry), an exported
detector (``--det_model_dir``), or else the whole image as one box.

    python tools/infer.py -c CONFIG -o weights=PATH --infer_img a.jpg [--output_dir output]
    python tools/infer.py -c CONFIG -o weights=PATH --infer_dir images/ --det_model_dir DET
    python tools/infer.py -c CONFIG -o weights=PATH --infer_dir images/ --bbox_file dets.json
    python tools/infer.py -c CONFIG -o weights=PATH --infer_dir images/ --infer_list names.txt

PaddleDetection's infer flags are accepted (``--visualize False``, ``--save_results True``, ...);
those ppkpt does not implement warn or fail (``ppkpt.core.cli.TOOL_FLAGS['infer']``, listed in
docs/deploy.md).
"""
import json
import logging
import os
import sys
from typing import Any, Callable, Dict, List, Optional

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppkpt.apis import inference_topdown, init_model  # noqa: E402
from ppkpt.core.cli import ArgsParser, exit_on_config_error  # noqa: E402
from ppkpt.data.coco import load_json  # noqa: E402
from ppkpt.engine.env import prepare_run  # noqa: E402
from ppkpt.image_io import list_images, read_rgb  # noqa: E402
from ppkpt.metadata import KeypointMeta  # noqa: E402
from ppkpt.visualize import draw_keypoints  # noqa: E402

logger = logging.getLogger('ppkpt')

BoxSource = Callable[[str, np.ndarray], Optional[np.ndarray]]


def boxes_from_file(path: str, threshold: float) -> BoxSource:
    """Boxes (M, 4) xyxy per image from a COCO-results json (``bbox`` is x, y, w, h).

    An entry belongs to an image when its ``file_name`` equals the image's base name or its
    ``image_id`` equals the image's numeric file stem (COCO's ``000000000785.jpg`` is 785).
    Entries below ``threshold`` or of a ``category_id`` other than 1 are skipped.
    """
    detections = load_json(path, '--bbox_file')
    if not isinstance(detections, list):
        raise ValueError(f'--bbox_file {path} must be a list of COCO detections')
    by_key: Dict[str, List[List[float]]] = {}
    for index, det in enumerate(detections):
        if 'bbox' not in det or len(det['bbox']) != 4:
            raise ValueError(f'--bbox_file {path}: entry {index} has no 4-value `bbox`')
        if det.get('category_id', 1) != 1 or float(det.get('score', 1.0)) < threshold:
            continue
        x, y, w, h = (float(v) for v in det['bbox'])
        key = str(det['file_name']) if 'file_name' in det else str(int(det['image_id']))
        by_key.setdefault(key, []).append([x, y, x + w, y + h])

    def lookup(image_file: str, _: np.ndarray) -> Optional[np.ndarray]:
        stem = os.path.splitext(os.path.basename(image_file))[0]
        keys = [os.path.basename(image_file)] + ([str(int(stem))] if stem.isdigit() else [])
        boxes = [box for key in keys for box in by_key.get(key, [])]
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    return lookup


def boxes_from_detector(model_dir: str, threshold: float) -> BoxSource:
    """Boxes (M, 4) xyxy of class 0 from an exported detector (``deploy/python/det_infer.py``)."""
    from deploy.python.det_infer import Detector

    detector = Detector(model_dir, threshold=threshold, class_ids=[0], nms_iou=0.5)
    return lambda _, image: detector.predict(image)[:, 2:6].astype(np.float64)


def predict(model: Any, images: List[str], box_source: Optional[BoxSource]
            ) -> List[Dict[str, Any]]:
    """Keypoints of every box of each image: ``[{'image_file', 'persons': [...]}]``."""
    results = []
    for image_file in images:
        image = read_rgb(image_file)
        boxes = box_source(image_file, image) if box_source is not None else None
        keypoints = inference_topdown(model, image, boxes)
        persons = [{'keypoints': kpts.tolist(), 'score': float(kpts[:, 2].mean()),
                    'bbox': None if boxes is None else [float(v) for v in boxes[i]]}
                   for i, kpts in enumerate(keypoints)]
        logger.info('%s: %d person(s)', image_file, len(persons))
        results.append({'image_file': image_file, 'persons': persons})
    return results


def images_from_list(infer_dir: str, infer_list: str) -> List[str]:
    """The images named one per line in ``infer_list``, relative to ``infer_dir``
    (PaddleDetection's ``--infer_list``); blank lines are skipped.

    Raises:
        FileNotFoundError: the list or a listed image does not exist (named).
    """
    if not os.path.isfile(infer_list):
        raise FileNotFoundError(f'--infer_list not found: {infer_list}')
    with open(infer_list, encoding='utf-8') as handle:
        names = [line.strip() for line in handle if line.strip()]
    images = [os.path.join(infer_dir, name) for name in names]
    missing = [path for path in images if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f'--infer_list {infer_list} names missing images: {missing}')
    return images


def save_overlays(results: List[Dict[str, Any]], meta: KeypointMeta, output_dir: str,
                  threshold: float) -> None:
    """Write one overlay image per input into ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    for result in results:
        image = cv2.imread(result['image_file'])
        persons = result['persons']
        keypoints = np.asarray([p['keypoints'] for p in persons]).reshape(
            len(persons), meta.num_joints, 3)
        drawn = draw_keypoints(image, keypoints, meta.skeleton, threshold, colors=meta.colors)
        for person in persons:
            if person['bbox'] is not None:
                x1, y1, x2, y2 = (int(round(v)) for v in person['bbox'])
                cv2.rectangle(drawn, (x1, y1), (x2, y2), (255, 255, 255), 1)
        out_path = os.path.join(output_dir, os.path.basename(result['image_file']))
        cv2.imwrite(out_path, drawn)
        logger.info('Saved %s', out_path)


def save_json(results: List[Dict[str, Any]], meta: KeypointMeta, output_dir: str) -> None:
    """Write ``keypoints.json`` (keypoint names and every result) into ``output_dir``."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, 'keypoints.json'), 'w') as f:
        json.dump({'keypoint_names': meta.names, 'results': results}, f)


def build_parser() -> ArgsParser:
    """The CLI of this tool."""
    parser = ArgsParser(__doc__, tool='infer')
    parser.add_argument('--infer_img', default=None, help='one image (wins over --infer_dir)')
    parser.add_argument('--infer_dir', default=None, help='a directory of images')
    parser.add_argument('--infer_list', default=None,
                        help='a text file of image names in --infer_dir, one per line')
    parser.add_argument('--output_dir', default='output')
    parser.add_argument('--draw_threshold', type=float, default=0.3,
                        help='joint score to draw (PaddleDetection: 0.5)')
    parser.add_bool('--visualize', default=True, help='write the overlay images')
    parser.add_bool('--save_results', default=True, help='write keypoints.json')
    parser.add_argument('--bbox_file', default=None, help='COCO-results json of person boxes')
    parser.add_argument('--det_model_dir', default=None, help='exported detector for the boxes')
    parser.add_argument('--det_threshold', type=float, default=0.5,
                        help='minimum box score (bbox_file or detector)')
    return parser


def _input_images(parser: ArgsParser, args: Any) -> List[str]:
    """``--infer_img``, else the ``--infer_list`` names in ``--infer_dir``, else every image
    in ``--infer_dir``."""
    if args.infer_list and not args.infer_img:
        if not args.infer_dir:
            parser.error('--infer_list needs --infer_dir')
        return images_from_list(args.infer_dir, args.infer_list)
    return list_images(args.infer_img, args.infer_dir, ('--infer_img', '--infer_dir'))


@exit_on_config_error
def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    images = _input_images(parser, args)
    cfg = prepare_run(args)
    if not cfg.get('weights'):
        parser.error('pass the weights with -o weights=PATH')
    box_source = None
    if args.bbox_file:
        box_source = boxes_from_file(args.bbox_file, args.det_threshold)
    elif args.det_model_dir:
        box_source = boxes_from_detector(args.det_model_dir, args.det_threshold)
    model = init_model(cfg, cfg['weights'])
    results = predict(model, images, box_source)
    meta = KeypointMeta.from_config(cfg)
    if args.visualize:
        save_overlays(results, meta, args.output_dir, args.draw_threshold)
    if args.save_results:
        save_json(results, meta, args.output_dir)


if __name__ == '__main__':
    main()
