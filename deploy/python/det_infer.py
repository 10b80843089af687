"""Detection with Paddle Inference: :class:`Detector` and a CLI.

Works with ppkpt's exported CenterNet and with PaddleDetection-exported detectors whose graph
ends in NMS: output 0 is ``bbox`` [M, 6] (class_id, score, x1, y1, x2, y2) in original-image
pixels and output 1 is ``bbox_num`` [N] (boxes per image).

    python deploy/python/det_infer.py --model_dir output_inference/centernet \
        --image_file street.jpg [--threshold 0.5] [--output_dir output] [--save_results]
"""
import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.io_utils import (VideoSource, add_benchmark, annotate_video,  # noqa: E402
                                    deploy_parser, is_empty, read_image_or_copy, run_cli,
                                    run_on_input, trt_options, write_json)
from deploy.python.predictor import (Predictor, StageTimer, TensorRTOptions,  # noqa: E402
                                     find_model_files)
from ppkpt.data.transforms.preprocess import build_preprocess  # noqa: E402

__all__ = ['Detector', 'DETECTOR_INPUTS', 'main']

logger = logging.getLogger('ppkpt.deploy')

DETECTOR_INPUTS = ('image', 'im_shape', 'scale_factor')


class Detector:
    """Run an exported detector on one image at a time.

    Args:
        model_dir: exported model directory.
        device: ``'cpu'`` or ``'gpu'``.
        run_mode: ``'paddle'``, ``'trt_fp32'`` or ``'trt_fp16'``.
        cpu_threads: math library threads on CPU.
        enable_mkldnn: use oneDNN on CPU.
        threshold: minimum box score kept.
        class_ids: classes kept (e.g. ``[0]`` for persons); None keeps all.
        nms_iou: per-class non-maximum suppression of the kept boxes at this IoU; 1.0 keeps
            every box. It removes the duplicate peaks that a briefly trained NMS-free
            detector (CenterNet) can give for one object.
        timer: collects ``det_pre``, ``det_infer`` and ``det_post`` times; a new one if None.
        trt: TensorRT options for a ``trt_*`` run mode.

    Raises:
        FileNotFoundError: when the model directory or a model file is missing.
        OptionError: when the device or run mode cannot be used (see ``Predictor``).
        ValueError: when the model wants an input other than ``image``, ``im_shape`` and
            ``scale_factor``.
    """

    def __init__(self, model_dir: str, device: str = 'cpu', run_mode: str = 'paddle',
                 cpu_threads: int = 2, enable_mkldnn: bool = True, threshold: float = 0.5,
                 class_ids: Optional[Sequence[int]] = None, nms_iou: float = 1.0,
                 timer: Optional[StageTimer] = None,
                 trt: Optional[TensorRTOptions] = None) -> None:
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f'nms_iou must be in (0, 1], got {nms_iou}')
        self.predictor = Predictor(model_dir, device, run_mode, cpu_threads, enable_mkldnn, 1,
                                   trt)
        unknown = [n for n in self.predictor.input_names if n not in DETECTOR_INPUTS]
        if unknown:
            raise ValueError(f'{model_dir}: model inputs {unknown} are not supported; a detector '
                             f'may take {list(DETECTOR_INPUTS)}')
        self.preprocess = build_preprocess(self.predictor.infer_cfg.preprocess,
                                           source=f'{model_dir}/infer_cfg.yml')
        self.label_list = self.predictor.infer_cfg.label_list
        self.threshold = threshold
        self.class_ids = None if class_ids is None else [int(c) for c in class_ids]
        self.nms_iou = nms_iou
        self.timer = timer or StageTimer()

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Boxes of one image.

        Args:
            image: (H, W, 3) uint8 RGB image.

        Returns:
            (M, 6) float32 boxes (class_id, score, x1, y1, x2, y2) in image pixels, with
            score >= ``threshold``, class in ``class_ids`` and no higher-scored box of the same
            class overlapping by more than ``nms_iou``, sorted by descending score. An empty
            image (no pixels) gives no box and a warning.
        """
        if is_empty(image):
            logger.warning('empty image (shape %s): no boxes', getattr(image, 'shape', None))
            return np.zeros((0, 6), np.float32)
        with self.timer.stage('det_pre'):
            record = self.preprocess({'image': image,
                                      'im_shape': np.asarray(image.shape[:2], np.float32),
                                      'scale_factor': np.ones(2, np.float32)})
            inputs = {'image': record['image'][None].astype(np.float32),
                      'im_shape': np.asarray(record['im_shape'], np.float32)[None],
                      'scale_factor': np.asarray(record['scale_factor'], np.float32)[None]}
        with self.timer.stage('det_infer'):
            outputs = self.predictor.run({name: inputs[name]
                                          for name in self.predictor.input_names})
        with self.timer.stage('det_post'):
            return self._postprocess(outputs)

    def _postprocess(self, outputs: List[np.ndarray]) -> np.ndarray:
        boxes = np.asarray(outputs[0], dtype=np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != 6:
            raise ValueError(f'{self.predictor.model_dir}: output 0 must be bbox [M, 6] (class, '
                             f'score, x1, y1, x2, y2), got shape {boxes.shape}; detectors '
                             f'exported without NMS are not supported')
        if len(outputs) > 1:
            boxes = boxes[:int(np.asarray(outputs[1]).reshape(-1)[0])]
        keep = boxes[:, 1] >= self.threshold
        if self.class_ids is not None:
            keep &= np.isin(boxes[:, 0].astype(np.int64), self.class_ids)
        boxes = boxes[keep]
        boxes = boxes[np.argsort(-boxes[:, 1], kind='stable')]
        return suppress_overlaps(boxes, self.nms_iou) if self.nms_iou < 1.0 else boxes


def suppress_overlaps(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Per-class non-maximum suppression with OpenCV.

    Args:
        boxes: (M, 6) boxes (class_id, score, x1, y1, x2, y2) sorted by descending score.
        iou_threshold: a box is dropped when it overlaps a higher-scored box of its class by
            more than this IoU.

    Returns:
        The kept rows, in their input order.
    """
    if len(boxes) < 2:
        return boxes
    xywh = np.concatenate([boxes[:, 2:4], boxes[:, 4:6] - boxes[:, 2:4]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), boxes[:, 1].tolist(),
                                   boxes[:, 0].astype(np.int64).tolist(), 0.0, iou_threshold)
    return boxes[np.sort(np.asarray(keep, dtype=np.int64).reshape(-1))]


def draw_boxes(image_bgr: np.ndarray, boxes: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Draw (M, 6) boxes with class names and scores on a copy of an (H, W, 3) image."""
    canvas = image_bgr.copy()
    for cls, score, x1, y1, x2, y2 in boxes:
        name = labels[int(cls)] if 0 <= int(cls) < len(labels) else str(int(cls))
        cv2.rectangle(canvas, (int(x1), int(y1)), (int(x2), int(y2)), (0, 200, 255), 2)
        cv2.putText(canvas, f'{name} {score:.2f}', (int(x1), max(int(y1) - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 255), 1, cv2.LINE_AA)
    return canvas


def _box_records(boxes: np.ndarray) -> List[Dict[str, Any]]:
    return [{'class_id': int(b[0]), 'score': float(b[1]), 'bbox': [float(v) for v in b[2:]]}
            for b in boxes]


def build_parser() -> argparse.ArgumentParser:
    """The CLI of this script."""
    parser = deploy_parser(__doc__, [('--model_dir', 'exported detector directory')])
    parser.add_argument('--threshold', type=float, default=0.5, help='minimum box score')
    parser.add_argument('--nms_iou', type=float, default=1.0,
                        help='per-class NMS IoU applied to the kept boxes (1.0: off)')
    parser.add_bool('--save_results', help='write det_results.json')
    return parser


def _run_images(detector: Detector, files: List[str], args: argparse.Namespace
                ) -> List[Dict[str, Any]]:
    """Draw the boxes of each image into ``--output_dir``; an unreadable one is copied
    unchanged."""
    results = []
    for path in files:
        image = read_image_or_copy(path, args.output_dir)
        if image is None:
            results.append({'image': path, 'boxes': [], 'skipped': 'unreadable image'})
            continue
        boxes = detector.predict(image)
        if args.save_images:
            canvas = draw_boxes(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), boxes,
                                detector.label_list)
            cv2.imwrite(os.path.join(args.output_dir, os.path.basename(path)), canvas)
        results.append({'image': path, 'boxes': _box_records(boxes)})
    return results


def _run_video(detector: Detector, source: VideoSource, output_dir: str
               ) -> List[Dict[str, Any]]:
    """Draw the boxes of every frame into ``<output_dir>/<name>.mp4``."""
    def annotate(frame: np.ndarray) -> Tuple[np.ndarray, Dict[str, Any]]:
        boxes = detector.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        return draw_boxes(frame, boxes, detector.label_list), {'boxes': _box_records(boxes)}

    return annotate_video(source, output_dir, annotate, {'boxes': []})


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the CLI; returns the results (and ``benchmark`` when asked)."""
    args = build_parser().parse_args(argv)
    find_model_files(args.model_dir)
    detector, results, seconds = run_on_input(
        args, lambda _: Detector(args.model_dir, args.device, args.run_mode, args.cpu_threads,
                                 args.enable_mkldnn, args.threshold, nms_iou=args.nms_iou,
                                 trt=trt_options(args)),
        lambda model, source: _run_video(model, source, args.output_dir),
        lambda model, files: _run_images(model, files, args))
    output: Dict[str, Any] = {'results': results}
    add_benchmark(args, output, [detector.timer], len(results), seconds)
    if args.save_results:
        write_json(os.path.join(args.output_dir, 'det_results.json'),
                   {'results': results, 'label_list': detector.label_list})
    return output


if __name__ == '__main__':
    run_cli(main)
