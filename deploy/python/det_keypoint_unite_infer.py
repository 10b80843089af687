"""Top-down pose estimation: a detector finds persons, a keypoint model estimates each pose.

    python deploy/python/det_keypoint_unite_infer.py \
        --det_model_dir output_inference/centernet --keypoint_model_dir output_inference/hrnet \
        --video_file walk.mp4 --output_dir output --save_res --smooth --filter_type OneEuro

Every output goes to ``--output_dir``. A video gives ``<name>.mp4`` (same fps and frame size as
the input; frames without a detection are written unchanged) and, with ``--save_res``,
``<name>_pose.json``. Images give annotated copies and ``pose_results.json``. In videos each
person gets a stable ``track_id`` and, with ``--smooth``, a per-track filter.
"""
import argparse
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.det_infer import Detector  # noqa: E402
from deploy.python.io_utils import (VideoSink, VideoSource, add_benchmark,  # noqa: E402
                                    deploy_parser, run_on_input, str2bool, write_json)
from deploy.python.keypoint_infer import KeypointDetector  # noqa: E402
from deploy.python.predictor import find_model_files  # noqa: E402
from ppkpt.image_io import read_rgb  # noqa: E402
from deploy.python.smoothing import FILTER_TYPES, KeypointSmoother  # noqa: E402
from deploy.python.tracker import PoseTracker  # noqa: E402
from ppkpt.metadata import DEFAULT_SIGMA, KeypointMeta  # noqa: E402
from ppkpt.visualize import draw_keypoints  # noqa: E402

__all__ = ['TopDownPipeline', 'run_video', 'run_images', 'build_parser', 'main']

PERSON_CLASS = 0


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

        Args:
            image_rgb: (H, W, 3) uint8 RGB frame.

        Returns:
            ``boxes`` (P, 6) (class, score, x1, y1, x2, y2), ``keypoints`` (P, K, 3),
            ``scores`` (P,) and ``track_ids`` (P,) (-1 without tracking).
        """
        boxes = self.detector.predict(image_rgb)
        boxes = boxes[boxes[:, 0].astype(np.int64) == PERSON_CLASS]
        keypoints, scores = self.keypoint_detector.predict(image_rgb, boxes[:, 2:6])
        track_ids = np.full(len(boxes), -1, dtype=np.int64)
        if self.track:
            track_ids, keypoints = self._tracker().update(boxes[:, 2:6], keypoints)
        return {'boxes': boxes, 'keypoints': keypoints, 'scores': scores, 'track_ids': track_ids}

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


def _header(pipeline: TopDownPipeline) -> Dict[str, Any]:
    meta = pipeline.meta
    return {'num_joints': meta.num_joints, 'keypoint_names': list(meta.names),
            'skeleton': [list(link) for link in meta.skeleton],
            'smooth': pipeline.smooth, 'filter_type': pipeline.filter_type if pipeline.smooth
            else None}


def run_video(pipeline: TopDownPipeline, source: VideoSource, output_dir: str,
              save_res: bool = True) -> Dict[str, Any]:
    """Annotate every frame of ``source`` into ``output_dir/<name>.mp4``.

    The writer is closed and (with ``save_res``) ``output_dir/<name>_pose.json`` written even
    when a frame fails; the JSON then has ``complete: false`` and ``error``, and the exception
    propagates.

    Returns:
        The JSON document (``frames``, ``num_joints``, ``keypoint_names``, ``fps``, ...).
    """
    import cv2
    sink = VideoSink(os.path.join(output_dir, f'{source.name}.mp4'), source.fps, source.size)
    document: Dict[str, Any] = {'frames': [], 'fps': source.fps, 'size': list(source.size),
                                'video': os.path.join(output_dir, f'{source.name}.mp4'),
                                'complete': False, 'error': None}
    try:
        for index, frame in enumerate(source):
            result = pipeline.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            sink.write(pipeline.draw(frame, result))
            document['frames'].append({'frame': index, 'persons': persons_json(result)})
        document['complete'] = True
    except BaseException as err:
        document['error'] = f'{type(err).__name__}: {err}'
        raise
    finally:
        sink.close()
        document.update(_header(pipeline))
        if save_res:
            write_json(os.path.join(output_dir, f'{source.name}_pose.json'), document)
    return document


def run_images(pipeline: TopDownPipeline, files: List[str], output_dir: str,
               save_res: bool = True) -> Dict[str, Any]:
    """Annotate each image into ``output_dir`` and (with ``save_res``) write
    ``output_dir/pose_results.json``.

    Returns:
        The JSON document; each frame also carries its ``image`` path.
    """
    import cv2
    document: Dict[str, Any] = {'frames': [], 'fps': None, 'complete': False, 'error': None}
    try:
        for index, path in enumerate(files):
            image = read_rgb(path)
            result = pipeline.process(image)
            canvas = pipeline.draw(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), result)
            cv2.imwrite(os.path.join(output_dir, os.path.basename(path)), canvas)
            document['frames'].append({'frame': index, 'image': path,
                                       'persons': persons_json(result)})
        document['complete'] = True
    except BaseException as err:
        document['error'] = f'{type(err).__name__}: {err}'
        raise
    finally:
        document.update(_header(pipeline))
        if save_res:
            write_json(os.path.join(output_dir, 'pose_results.json'), document)
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
    parser.add_argument('--save_res', action='store_true', help='write the JSON results')
    parser.add_argument('--smooth', action='store_true', help='smooth keypoints per track')
    parser.add_argument('--filter_type', default='OneEuro', choices=list(FILTER_TYPES))
    parser.add_argument('--min_cutoff', type=float, default=1.0, help='One Euro cutoff (Hz)')
    parser.add_argument('--beta', type=float, default=0.05, help='One Euro speed coefficient')
    parser.add_argument('--d_cutoff', type=float, default=1.0, help='One Euro speed cutoff (Hz)')
    parser.add_argument('--alpha', type=float, default=0.5, help='EMA weight of the new frame')
    parser.add_argument('--use_dark', type=str2bool, default=None,
                        help='DARK decoding (true/false); default: infer_cfg.yml use_dark')
    parser.add_argument('--flip_test', type=str2bool, default=None,
                        help='flip test as in evaluation (true/false; doubles the keypoint '
                             'model work); default: infer_cfg.yml flip_test')
    return parser


def _build_pipeline(args: argparse.Namespace, source: Optional[VideoSource]) -> TopDownPipeline:
    """The pipeline for a video ``source`` (tracking, smoothing when asked), or for images."""
    track = source is not None
    fps = source.fps if track else 30.0
    detector = Detector(args.det_model_dir, args.device, args.run_mode, args.cpu_threads,
                        args.enable_mkldnn, args.det_threshold, nms_iou=args.det_nms_iou)
    keypoint_detector = KeypointDetector(args.keypoint_model_dir, args.device, args.run_mode,
                                         args.keypoint_batch_size, args.cpu_threads,
                                         args.enable_mkldnn, args.use_dark, args.flip_test)
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
        lambda model, files: run_images(model, files, args.output_dir, args.save_res))
    add_benchmark(args, document, [pipeline.detector.timer, pipeline.keypoint_detector.timer],
                  len(document['frames']), seconds)
    print(f'results saved to {args.output_dir}')
    return document


if __name__ == '__main__':
    main()
