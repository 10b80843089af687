"""Top-down pose estimation: a detector finds persons, a keypoint model estimates each pose.

    python deploy/python/det_keypoint_unite_infer.py \
        --det_model_dir output_inference/centernet --keypoint_model_dir output_inference/hrnet \
        --video_file walk.mp4 --output_dir output --save_res --smooth --filter_type OneEuro

Every output goes to ``--output_dir``. A video gives ``<name>.mp4`` (same fps and frame size as
the input; frames without a detection are written unchanged) and, with ``--save_res``,
``<name>_pose.json`` and PaddleDetection's ``det_keypoint_unite_video_results.json``. Images
give annotated copies, ``pose_results.json`` and ``det_keypoint_unite_image_results.json``. In
videos each person gets a stable ``track_id`` and, with ``--smooth``, a per-track filter.

Videos: ``--fast`` runs the detector on every 3rd frame (``--det_interval``), re-estimates the
previous frame's people in boxes carried forward from their keypoints in between, sends all
crops of a frame to the keypoint model in one call and skips the flip test (unless
``--flip_test True`` asks for it). For real time on a CPU add ``--run_mode onnxruntime`` (models
exported with ``--onnx``): light models run several times faster there. Against a weak detector's duplicate
and spurious boxes, people with too few confident joints are dropped (``--min_joints``),
each frame's people go through a pose-level OKS-NMS (``--pose_nms``), tracks can be reported
only once confirmed (``--track_confirm``), and tracks that overlap for several frames merge
(``--track_merge_frames``). The library defaults (:class:`VideoOptions`) are all off.

Bad data is written through: an empty frame becomes a black frame, an unreadable image is
copied unchanged, a degenerate detector box is dropped, and a truncated video gives the
outputs of the frames read (``truncated: true`` in the JSON, and a warning).
"""
import argparse
import os
import sys
from dataclasses import replace
from typing import Any, Dict, List, Optional

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.det_infer import Detector  # noqa: E402
from deploy.python.io_utils import (VideoSource, add_benchmark, add_smoothing_flags,  # noqa: E402
                                    deploy_parser, run_cli, run_on_input, smoother_params,
                                    trt_options)
from deploy.python.keypoint_infer import KeypointDetector  # noqa: E402
from deploy.python.pipeline import (CLI_VIDEO_DEFAULTS, FAST_DET_INTERVAL,  # noqa: E402
                                    TopDownPipeline, VideoOptions)
from deploy.python.pipeline_outputs import run_images, run_video  # noqa: E402
from deploy.python.predictor import find_model_files  # noqa: E402
from ppkpt.core.cli import CompatParser  # noqa: E402

__all__ = ['build_parser', 'video_options', 'keypoint_flip_test', 'main']


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
    add_smoothing_flags(parser)
    parser.add_bool('--use_dark', default=None,
                    help='DARK decoding; default: the codec in infer_cfg.yml')
    parser.add_bool('--flip_test', default=None,
                    help='flip test as in evaluation (doubles the keypoint model work); '
                         'default: off with --fast, else infer_cfg.yml flip_test')
    _add_video_flags(parser)
    return parser


def _add_video_flags(parser: CompatParser) -> None:
    """The fast mode and the stability flags (videos), defaults from
    :data:`CLI_VIDEO_DEFAULTS`."""
    cli = CLI_VIDEO_DEFAULTS
    parser.add_bool('--fast', help=f'fast mode: the detector every {FAST_DET_INTERVAL}th frame '
                                   f'(unless --det_interval says otherwise), all crops of a '
                                   f'frame in one keypoint predictor call, no flip test '
                                   f'(unless --flip_test True)')
    parser.add_argument('--det_interval', type=int, default=None,
                        help=f'run the detector every Nth frame and carry the people forward '
                             f'between (videos); default 1, {FAST_DET_INTERVAL} with --fast')
    parser.add_argument('--carry_pad', type=float, default=cli.carry_pad,
                        help=f'crop of a carried person: the extent of its confident joints '
                             f'padded by this fraction per side; default {cli.carry_pad}')
    parser.add_argument('--min_joints', type=int, default=cli.min_joints,
                        help=f'drop a person with fewer than min(N, K) joints at '
                             f'--keypoint_threshold (0: keep all); default {cli.min_joints}')
    parser.add_argument('--pose_nms', type=float, default=cli.pose_nms,
                        help=f'pose-level OKS-NMS threshold over each frame\'s people, with the '
                             f'model sigmas (1.0: off); default {cli.pose_nms}')
    parser.add_argument('--track_confirm', type=int, default=cli.track_confirm,
                        help=f'report a track once matched in M consecutive frames (1: at '
                             f'once); default {cli.track_confirm}')
    parser.add_argument('--track_merge_frames', type=int, default=cli.track_merge_frames,
                        help=f'merge two tracks that overlap in this many frames (0: never); '
                             f'default {cli.track_merge_frames}')
    parser.add_argument('--track_merge_iou', type=float, default=cli.track_merge_iou,
                        help=f'box IoU at which two tracks overlap; default '
                             f'{cli.track_merge_iou}')
    parser.add_argument('--track_merge_oks', type=float, default=cli.track_merge_oks,
                        help=f'OKS at which two tracks overlap; default {cli.track_merge_oks}')
    parser.add_check(lambda args: _check_video_flags(parser, args))


def _check_video_flags(parser: CompatParser, args: argparse.Namespace) -> None:
    """Fail in one line (exit code 2) on an out-of-range video flag, before any model loads."""
    try:
        video_options(args)
    except ValueError as err:
        parser.fail(str(err))


def video_options(args: argparse.Namespace) -> VideoOptions:
    """The :class:`VideoOptions` of parsed flags: ``--fast`` turns the speed-ups on, and an
    explicit ``--det_interval`` wins over it."""
    base = VideoOptions.fast() if args.fast else VideoOptions()
    interval = base.det_interval if args.det_interval is None else args.det_interval
    return replace(base, det_interval=interval, pose_nms=args.pose_nms,
                   track_confirm=args.track_confirm, track_merge_frames=args.track_merge_frames,
                   track_merge_iou=args.track_merge_iou, track_merge_oks=args.track_merge_oks,
                   min_joints=args.min_joints, carry_pad=args.carry_pad)


def keypoint_flip_test(args: argparse.Namespace) -> Optional[bool]:
    """The keypoint model's flip test: ``--flip_test`` when given, off with ``--fast``, else
    None (``infer_cfg.yml`` decides)."""
    if args.flip_test is None and args.fast:
        return False
    return args.flip_test


def _build_pipeline(args: argparse.Namespace, source: Optional[VideoSource]) -> TopDownPipeline:
    """The pipeline for a video ``source`` (tracking, smoothing when asked), or for images."""
    track = source is not None
    fps = source.fps if track else 30.0
    detector = Detector(args.det_model_dir, args.device, args.run_mode, args.cpu_threads,
                        args.enable_mkldnn, args.det_threshold, nms_iou=args.det_nms_iou,
                        trt=trt_options(args))
    keypoint_detector = KeypointDetector(args.keypoint_model_dir, args.device, args.run_mode,
                                         args.keypoint_batch_size, args.cpu_threads,
                                         args.enable_mkldnn, args.use_dark,
                                         keypoint_flip_test(args), trt=trt_options(args))
    return TopDownPipeline(detector, keypoint_detector, args.keypoint_threshold, track=track,
                           smooth=args.smooth and track, filter_type=args.filter_type, fps=fps,
                           smoother_params=smoother_params(args), options=video_options(args))


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
    timers = [pipeline.detector.timer, pipeline.keypoint_detector.timer, pipeline.timer]
    add_benchmark(args, document, timers, len(document['frames']), seconds)
    print(f'results saved to {args.output_dir}')
    return document


if __name__ == '__main__':
    run_cli(main)
