"""Run a trained top-down model on images, draw the skeletons and save a JSON of the keypoints.

The people are cropped with boxes from, in order of preference: a COCO-results ``--bbox_file``
(``image_id`` matched to the image's numeric file stem, or a ``file_name`` entry), an exported
detector (``--det_model_dir``), or else the whole image as one box.

    python tools/infer.py -c CONFIG -o weights=PATH --infer_img a.jpg [--output_dir output]
    python tools/infer.py -c CONFIG -o weights=PATH --infer_dir images/ --det_model_dir DET
    python tools/infer.py -c CONFIG -o weights=PATH --infer_dir images/ --bbox_file dets.json
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


def save_results(results: List[Dict[str, Any]], meta: KeypointMeta, output_dir: str,
                 threshold: float) -> None:
    """Write one overlay image per input and ``keypoints.json`` into ``output_dir``."""
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
    with open(os.path.join(output_dir, 'keypoints.json'), 'w') as f:
        json.dump({'keypoint_names': meta.names, 'results': results}, f)


@exit_on_config_error
def main() -> None:
    parser = ArgsParser(__doc__)
    parser.add_argument('--infer_img', default=None)
    parser.add_argument('--infer_dir', default=None)
    parser.add_argument('--output_dir', default='output')
    parser.add_argument('--draw_threshold', type=float, default=0.3)
    parser.add_argument('--bbox_file', default=None, help='COCO-results json of person boxes')
    parser.add_argument('--det_model_dir', default=None, help='exported detector for the boxes')
    parser.add_argument('--det_threshold', type=float, default=0.5,
                        help='minimum box score (bbox_file or detector)')
    args = parser.parse_args()
    images = list_images(args.infer_img, args.infer_dir, ('--infer_img', '--infer_dir'))
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
    save_results(results, KeypointMeta.from_config(cfg), args.output_dir, args.draw_threshold)


if __name__ == '__main__':
    main()
