"""Top-down pose estimation: a detector finds persons, a keypoint model estimates each pose.

    python deploy/python/det_keypoint_unite_infer.py \
        --det_model_dir output_inference/centernet --keypoint_model_dir output_inference/hrnet \
        --video_file walk.mp4 --output_dir output --save_res --smooth --filter_type OneEuro

Every output goes to ``--output_dir``. A video gives ``<name>.mp4`` (same fps and frame size as
the input; frames without a detection are written unchanged) and, with ``--save_res``,
``<name>_pose.json`` and PaddleDetection's ``det_keypoint_unite_video_results.json``. Images
give annotated copies, ``pose_results.json`` and ``det_keypoint_unite_image_results.json``. In
videos each person gets a stable ``track_id`` and, with ``--smooth``, a per-track filter.

Bad data is written through: an empty frame becomes a black frame, an unreadable image is
copied unchanged, a degenerate detector box is dropped, and a truncated video gives the
outputs of the frames read (``truncated: true`` in the JSON, and a warning).
"""
import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.det_infer import Detector  # noqa: E402
from deploy.python.io_utils import (VideoSink, VideoSource, add_benchmark,  # noqa: E402
                                    deploy_parser, is_empty, read_image_or_copy, run_cli,
                                    run_on_input, trt_options, write_json)
from deploy.python.keypoint_infer import KeypointDetector, usable_boxes  # noqa: E402
from deploy.python.predictor import find_model_files  # noqa: E402
from deploy.python.smoothing import FILTER_TYPES, KeypointSmoother  # noqa: E402
from deploy.python.tracker import PoseTracker  # noqa: E402
from ppkpt.metadata import DEFAULT_SIGMA, KeypointMeta  # noqa: E402
from ppkpt.visualize import draw_keypoints  # noqa: E402

__all__ = ['TopDownPipeline', 'run_video', 'run_images', 'paddledet_results', 'build_parser',
           'main', 'PADDLEDET_IMAGE_JSON', 'PADDLEDET_VIDEO_JSON']

logger = logging.getLogger('ppkpt.deploy')

PERSON_CLASS = 0
PADDLEDET_IMAGE_JSON = 'det_keypoint_unite_image_results.json'
PADDLEDET_VIDEO_JSON = 'det_keypoint_unite_video_results.json'
"""The result files PaddleDetection's script writes (there into the working directory)."""


class TopDownPipeline:
    """Detector + keypoint model (+ tracker and smoothing for videos) on one frame at a time.

    Args:
        detector: person detector (class 0 boxes are used).
        keypoint_detector: top-down keypoint model.
        keypoint_threshold: joint score to draw and to enter OKS tracking; also the smoother's
            threshold for every joint unless the model metadata has
            ``keypoint_score_thresholds``.
        track: give persons stable ids across frames (videos).
        smooth: smooth every tracked person's keypoints (needs ``track``).
        filter_type: ``'OneEuro'`` or ``'EMA'``.
        fps: frame rate for One Euro.
        smoother_params: extra :class:`KeypointSmoother` arguments (``min_cutoff``, ``beta``,
            ``d_cutoff``, ``alpha``).
    """

    def __init__(self, detector: Detector, keypoint_detector: KeypointDetector,
                 keypoint_threshold: float = 0.5, track: bool = False, smooth: bool = False,
                 filter_type: str = 'OneEuro', fps: float = 30.0,
                 smoother_params: Optional[Dict[str, float]] = None) -> None:
        if filter_type not in FILTER_TYPES:
            raise ValueError(f'filter_type must be one of {FILTER_TYPES}, got {filter_type!r}')
        self.detector = detector
        self.keypoint_detector = keypoint_detector
        self.keypoint_threshold = keypoint_threshold
        self.track = track or smooth
        self.smooth = smooth
        self.filter_type = filter_type
        self.fps = fps
        self.smoother_params = dict(smoother_params or {})
        self.tracker: Optional[PoseTracker] = None

    @property
    def meta(self) -> KeypointMeta:
        """The keypoint model's metadata."""
        return self.keypoint_detector.meta

    def _tracker(self) -> PoseTracker:
        if self.tracker is None:
            num_joints = self.meta.num_joints
            sigmas = self.meta.sigmas or [DEFAULT_SIGMA] * num_joints
            factory = self._smoother if self.smooth else None
            self.tracker = PoseTracker(sigmas, score_threshold=self.keypoint_threshold,
                                       smoother_factory=factory)
        return self.tracker

    def _smoother(self) -> KeypointSmoother:
        """A new filter for one track, with the model's per-joint thresholds when it has them."""
        return KeypointSmoother(self.meta.num_joints, self.filter_type, self.fps,
                                self.meta.joint_thresholds(self.keypoint_threshold),
                                **self.smoother_params)

    def process(self, image_rgb: np.ndarray) -> Dict[str, np.ndarray]:
        """Detect, estimate and (for videos) track the persons of one frame.

        Person boxes that :func:`usable_boxes` rejects (not finite, inverted, under 1 px,
        outside the frame) are dropped (debug log). An empty frame (no pixels) runs no model
        and gives no person; the tracker still counts it as a frame.

        Args:
            image_rgb: (H, W, 3) uint8 RGB frame.

        Returns:
            ``boxes`` (P, 6) (class, score, x1, y1, x2, y2), ``keypoints`` (P, K, 3),
            ``scores`` (P,) and ``track_ids`` (P,) (-1 without tracking).
        """
        boxes, keypoints, scores = self._estimate(image_rgb)
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        if self.track:
            track_ids, keypoints = self._tracker().update(boxes[:, 2:6], keypoints)
        return {'boxes': boxes, 'keypoints': keypoints, 'scores': scores, 'track_ids': track_ids}

    def _estimate(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (P, 6), keypoints (P, K, 3), scores (P,)) of the usable person boxes."""
        if is_empty(image_rgb):
            return (np.zeros((0, 6), np.float32),
                    np.zeros((0, self.meta.num_joints, 3), np.float32), np.zeros(0, np.float32))
        boxes = self.detector.predict(image_rgb)
        boxes = boxes[boxes[:, 0].astype(np.int64) == PERSON_CLASS]
        boxes = boxes[usable_boxes(boxes[:, 2:6], image_rgb.shape[1], image_rgb.shape[0])]
        keypoints, scores = self.keypoint_detector.predict(image_rgb, boxes[:, 2:6])
        return boxes, keypoints, scores

    def draw(self, image_bgr: np.ndarray, result: Dict[str, np.ndarray]) -> np.ndarray:
        """The frame annotated with ``result``; unchanged when nobody was found."""
        if len(result['boxes']) == 0:
            return image_bgr
        ids = result['track_ids'] if self.track else None
        return draw_keypoints(image_bgr, result['keypoints'], self.meta.skeleton,
                              self.keypoint_threshold, colors=self.meta.colors,
                              track_ids=ids, boxes=result['boxes'][:, 2:6])


def persons_json(result: Dict[str, np.ndarray]) -> List[Dict[str, Any]]:
    """The JSON records of one frame's persons."""
    persons = []
    for p in range(len(result['boxes'])):
        track_id = int(result['track_ids'][p])
        persons.append({'track_id': track_id if track_id >= 0 else None,
                        'bbox': [round(float(v), 2) for v in result['boxes'][p, 2:6]],
                        'bbox_score': round(float(result['boxes'][p, 1]), 4),
                        'keypoints': np.round(result['keypoints'][p].astype(np.float64),
                                              3).tolist(),
                        'score': round(float(result['scores'][p]), 4)})
    return persons


def paddledet_results(document: Dict[str, Any]) -> List[List[Any]]:
    """The document in the format of PaddleDetection's ``det_keypoint_unite_*_results.json``.

    One entry per frame or image with at least one person: ``[image path (images) or 1-based
    frame number (videos), [[x1, y1, x2, y2], ...], [[keypoints (K, 3)], ...],
    [[score], ...]]]``.
    """
    records = []
    for frame in document['frames']:
        persons = frame['persons']
        if persons:
            key = frame['image'] if 'image' in frame else frame['frame'] + 1
            records.append([key, [p['bbox'] for p in persons],
                            [[p['keypoints'] for p in persons], [[p['score']] for p in persons]]])
    return records


def _header(pipeline: TopDownPipeline) -> Dict[str, Any]:
    meta = pipeline.meta
    return {'num_joints': meta.num_joints, 'keypoint_names': list(meta.names),
            'skeleton': [list(link) for link in meta.skeleton],
            'smooth': pipeline.smooth, 'filter_type': pipeline.filter_type if pipeline.smooth
            else None}


def _save(document: Dict[str, Any], output_dir: str, name: str, paddledet_name: str) -> None:
    """Write ppkpt's JSON ``name`` and PaddleDetection's ``paddledet_name`` into
    ``output_dir``."""
    write_json(os.path.join(output_dir, name), document)
    write_json(os.path.join(output_dir, paddledet_name), paddledet_results(document))


def _annotate_frame(pipeline: TopDownPipeline, frame: np.ndarray, sink: VideoSink,
                    label: str, index: int) -> Dict[str, Any]:
    """Process one BGR frame, write it to ``sink`` and return its JSON record; an empty frame
    is written as a black frame (logged)."""
    import cv2
    if is_empty(frame):
        logger.warning('%s: frame %d is empty; written as a black frame without annotations',
                       label, index)
        pipeline.process(frame)
        sink.write(sink.blank())
        return {'frame': index, 'persons': [], 'skipped': 'empty frame'}
    result = pipeline.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    sink.write(pipeline.draw(frame, result))
    return {'frame': index, 'persons': persons_json(result)}


def run_video(pipeline: TopDownPipeline, source: VideoSource, output_dir: str,
              save_res: bool = True) -> Dict[str, Any]:
    """Annotate every frame of ``source`` into ``output_dir/<name>.mp4``.

    The writer is closed and (with ``save_res``) ``output_dir/<name>_pose.json`` and
    ``det_keypoint_unite_video_results.json`` written even when a frame fails; the JSON then
    has ``complete: false`` and ``error``, and the exception propagates. A source that ends
    before the frame count it announces (a truncated file) gives ``truncated: true``.

    Returns:
        The JSON document (``frames``, ``num_joints``, ``keypoint_names``, ``fps``, ...).
    """
    sink = VideoSink(os.path.join(output_dir, f'{source.name}.mp4'), source.fps, source.size)
    document: Dict[str, Any] = {'frames': [], 'fps': source.fps, 'size': list(source.size),
                                'video': os.path.join(output_dir, f'{source.name}.mp4'),
                                'complete': False, 'error': None}
    try:
        for index, frame in enumerate(source):
            document['frames'].append(_annotate_frame(pipeline, frame, sink, source.label,
                                                      index))
        document['complete'] = True
    except BaseException as err:
        document['error'] = f'{type(err).__name__}: {err}'
        raise
    finally:
        sink.close()
        document.update(_header(pipeline), frames_announced=source.frames_announced,
                        truncated=source.truncated)
        if save_res:
            _save(document, output_dir, f'{source.name}_pose.json', PADDLEDET_VIDEO_JSON)
    return document


def run_images(pipeline: TopDownPipeline, files: List[str], output_dir: str,
               save_res: bool = True, save_images: bool = True) -> Dict[str, Any]:
    """Annotate each image into ``output_dir`` (with ``save_images``) and (with ``save_res``)
    write ``output_dir/pose_results.json`` and ``det_keypoint_unite_image_results.json``.

    An unreadable image (empty, truncated, not an image) is copied unchanged and its record
    carries ``skipped``.

    Returns:
        The JSON document; each frame also carries its ``image`` path.
    """
    import cv2
    document: Dict[str, Any] = {'frames': [], 'fps': None, 'complete': False, 'error': None}
    try:
        for index, path in enumerate(files):
            record: Dict[str, Any] = {'frame': index, 'image': path, 'persons': []}
            image = read_image_or_copy(path, output_dir)
            if image is None:
                record['skipped'] = 'unreadable image'
            else:
                result = pipeline.process(image)
                record['persons'] = persons_json(result)
                if save_images:
                    canvas = pipeline.draw(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), result)
                    cv2.imwrite(os.path.join(output_dir, os.path.basename(path)), canvas)
            document['frames'].append(record)
        document['complete'] = True
    except BaseException as err:
        document['error'] = f'{type(err).__name__}: {err}'
        raise
    finally:
        document.update(_header(pipeline))
        if save_res:
            _save(document, output_dir, 'pose_results.json', PADDLEDET_IMAGE_JSON)
    return document


def build_parser() -> argparse.ArgumentParser:
    """The CLI of this script."""
    parser = deploy_parser(__doc__, [
        ('--det_model_dir', 'exported detector directory'),
        ('--keypoint_model_dir', 'exported top-down keypoint model directory')])
    parser.add_argument('--det_threshold', type=float, default=0.5, help='minimum box score')
    parser.add_argument('--det_nms_iou', type=float, default=0.5,
                        help='per-class NMS IoU on the detector boxes, so one object gives one '
                             'person (1.0: off)')
    parser.add_argument('--keypoint_threshold', type=float, default=0.5,
                        help='joint score to draw and to feed the smoother')
    parser.add_argument('--keypoint_batch_size', type=int, default=8,
                        help='person crops per keypoint predictor call')
    parser.add_bool('--save_res', help='write the JSON results')
    parser.add_bool('--smooth', help='smooth keypoints per track (videos)')
    parser.add_argument('--filter_type', default='OneEuro', choices=list(FILTER_TYPES))
    parser.add_argument('--min_cutoff', type=float, default=1.0, help='One Euro cutoff (Hz)')
    parser.add_argument('--beta', type=float, default=0.05, help='One Euro speed coefficient')
    parser.add_argument('--d_cutoff', type=float, default=1.0, help='One Euro speed cutoff (Hz)')
    parser.add_argument('--alpha', type=float, default=0.5, help='EMA weight of the new frame')
    parser.add_bool('--use_dark', default=None,
                    help='DARK decoding; default: the codec in infer_cfg.yml')
    parser.add_bool('--flip_test', default=None,
                    help='flip test as in evaluation (doubles the keypoint model work); '
                         'default: infer_cfg.yml flip_test')
    return parser


def _build_pipeline(args: argparse.Namespace, source: Optional[VideoSource]) -> TopDownPipeline:
    """The pipeline for a video ``source`` (tracking, smoothing when asked), or for images."""
    track = source is not None
    fps = source.fps if track else 30.0
    detector = Detector(args.det_model_dir, args.device, args.run_mode, args.cpu_threads,
                        args.enable_mkldnn, args.det_threshold, nms_iou=args.det_nms_iou,
                        trt=trt_options(args))
    keypoint_detector = KeypointDetector(args.keypoint_model_dir, args.device, args.run_mode,
                                         args.keypoint_batch_size, args.cpu_threads,
                                         args.enable_mkldnn, args.use_dark, args.flip_test,
                                         trt=trt_options(args))
    params = {'min_cutoff': args.min_cutoff, 'beta': args.beta, 'd_cutoff': args.d_cutoff,
              'alpha': args.alpha}
    return TopDownPipeline(detector, keypoint_detector, args.keypoint_threshold, track=track,
                           smooth=args.smooth and track, filter_type=args.filter_type, fps=fps,
                           smoother_params=params)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the CLI; every input is checked before a model is loaded. Returns the document."""
    args = build_parser().parse_args(argv)
    find_model_files(args.det_model_dir)
    find_model_files(args.keypoint_model_dir)
    pipeline, document, seconds = run_on_input(
        args, lambda source: _build_pipeline(args, source),
        lambda model, source: run_video(model, source, args.output_dir, args.save_res),
        lambda model, files: run_images(model, files, args.output_dir, args.save_res,
                                        args.save_images))
    add_benchmark(args, document, [pipeline.detector.timer, pipeline.keypoint_detector.timer],
                  len(document['frames']), seconds)
    print(f'results saved to {args.output_dir}')
    return document


if __name__ == '__main__':
    run_cli(main)
