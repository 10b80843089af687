"""Image, video and camera sources, the video writer, JSON output and the shared CLI flags
for the deploy scripts.

Sources are opened and their first frame read when they are created, so a bad path or a
missing camera fails before any model work starts. Bad data met later is logged and written
through: an unreadable image is copied unchanged, an empty video frame becomes a black frame,
a video that ends before the frame count it announces (a truncated file) ends the run with a
warning naming the last frame read.
"""
import argparse
import json
import logging
import os
import shutil
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

import cv2
import numpy as np

from deploy.python.predictor import (DEVICES, RUN_MODES, StageTimer, TensorRTOptions,
                                     benchmark_report, check_options, share_onnx_threads)
from deploy.python.smoothing import FILTER_TYPES
from ppkpt.core.cli import SLICE_FLAGS, CompatParser, OptionError, Unsupported
from ppkpt.image_io import ImageReadError, list_images, read_rgb

__all__ = ['VideoSource', 'VideoSink', 'VideoReadError', 'write_json', 'deploy_parser',
           'add_smoothing_flags', 'smoother_params',
           'run_on_input', 'add_benchmark', 'trt_options', 'read_image_or_copy', 'is_empty',
           'run_cli', 'annotate_video', 'DEPLOY_FLAGS']

logger = logging.getLogger('ppkpt.deploy')

_DEFAULT_FPS = 30.0
_ASKED_DEVICES = DEVICES + ('xpu', 'npu')
_MOT = "a multi-object-tracking option; PaddleDetection's keypoint scripts ignore it too"
_ACTION = "an action-recognition option; PaddleDetection's keypoint scripts ignore it too"

DEPLOY_FLAGS: Tuple[Unsupported, ...] = (
    Unsupported('--use_gpu', 'deprecated (PaddleDetection rejects it too); use --device GPU',
                True),
    Unsupported('--enable_mkldnn_bfloat16', 'bfloat16 oneDNN inference would change the '
                                            'numbers; use --enable_mkldnn', True),
    Unsupported('--use_fd_format', 'FastDeploy model folders (inference.* + inference.yml); '
                                   'give a folder with model.* + infer_cfg.yml', True),
    Unsupported('--save_mot_txts', _MOT, False),
    Unsupported('--save_mot_txt_per_img', _MOT, False),
    Unsupported('--scaled', _MOT, False),
    Unsupported('--tracker_config', _MOT, False, 'value'),
    Unsupported('--reid_model_dir', _MOT, False, 'value'),
    Unsupported('--reid_batch_size', _MOT, False, 'value'),
    Unsupported('--action_file', _ACTION, False, 'value'),
    Unsupported('--window_size', _ACTION, False, 'value'),
    Unsupported('--random_pad', _ACTION, False),
    Unsupported('--use_coco_category', 'the JSON keeps the model class ids', False),
    Unsupported('--task_type', 'the JSON holds detection boxes only', False, 'value'),
    *SLICE_FLAGS,
)
"""PaddleDetection deploy flags (``deploy/python/utils.py``) that ppkpt accepts without
implementing."""

_TRT_FLAGS = {'trt_min_shape': 'min_shape', 'trt_max_shape': 'max_shape',
              'trt_opt_shape': 'opt_shape', 'trt_calib_mode': 'calib_mode',
              'collect_trt_shape_info': 'collect_shape_info',
              'tuned_trt_shape_file': 'tuned_shape_file'}
"""CLI dest -> :class:`TensorRTOptions` field."""

Model = TypeVar('Model')
Result = TypeVar('Result')


class VideoReadError(ValueError):
    """A video file or camera that exists but cannot be opened or read."""


def is_empty(image: Optional[np.ndarray]) -> bool:
    """Whether ``image`` is missing or has no pixels (0 x 0, or a zero-length side)."""
    return image is None or image.size == 0


class VideoSource:
    """Frames of a video file or a camera, as (H, W, 3) uint8 BGR arrays.

    The frames end where OpenCV can read no more. When a file ends before the frame count its
    container announces (a truncated or corrupt file), a warning names the last frame read and
    :attr:`truncated` becomes true.

    Args:
        video_file: path of a video file; used when given.
        camera_id: camera index, used when ``video_file`` is None.

    Attributes:
        fps: frames per second (30 when the source does not report it).
        size: (w, h) frame size.
        name: output name stem (the video basename, or ``camera<id>``).
        label: ``video file <path>`` or ``camera <id>``, for messages.
        frames_announced: the container's frame count (None when it gives none, e.g. a camera).
        frames_read: frames yielded so far.
        truncated: the frames ran out before ``frames_announced``.

    Raises:
        FileNotFoundError: when ``video_file`` does not exist or is not a file.
        VideoReadError: when the source cannot be opened or its first frame cannot be read.
    """

    def __init__(self, video_file: Optional[str] = None, camera_id: int = -1) -> None:
        if video_file:
            if not os.path.isfile(video_file):
                raise FileNotFoundError(f'--video_file not found (or not a file): {video_file}')
            self.label = f'video file {video_file}'
            self.name = os.path.splitext(os.path.basename(video_file))[0]
            self._capture = cv2.VideoCapture(video_file)
        elif camera_id >= 0:
            self.label = f'camera {camera_id}'
            self.name = f'camera{camera_id}'
            self._capture = cv2.VideoCapture(camera_id)
        else:
            raise ValueError('give --video_file or a --camera_id >= 0')
        ok, frame = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or is_empty(frame):
            self._capture.release()
            hint = (' (not a video, or a corrupt or truncated file; an MP4 cut before its '
                    'index, the moov atom, cannot be read)') if video_file else ''
            raise VideoReadError(f'cannot read {self.label}: OpenCV cannot open it or decode a '
                                 f'first frame{hint}')
        self._first: Optional[np.ndarray] = frame
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if fps > 0 else _DEFAULT_FPS
        self.size = (int(frame.shape[1]), int(frame.shape[0]))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frames_announced: Optional[int] = count if count > 0 else None
        self.frames_read = 0
        self.truncated = False

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._first is not None:
            first, self._first = self._first, None
            self.frames_read = 1
            yield first
        while True:
            ok, frame = self._capture.read()
            if not ok:
                break
            self.frames_read += 1
            yield frame
        self._check_complete()

    def _check_complete(self) -> None:
        """Warn, naming the last frame read, when the file announced more frames."""
        if self.frames_announced is None or self.frames_read >= self.frames_announced:
            return
        self.truncated = True
        last = self.frames_read - 1
        logger.warning('%s: reading stopped after frame %d (%d of the %d frames the file '
                       'announces): the file is truncated or corrupt; the outputs cover frames '
                       '0-%d', self.label, last, self.frames_read, self.frames_announced, last)

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()


def deploy_parser(description: str, model_dirs: Sequence[Tuple[str, str]]) -> CompatParser:
    """The argument parser every deploy CLI starts from.

    Args:
        description: the script's docstring (shown by ``--help``).
        model_dirs: ``(flag, help)`` of each required model-directory flag.

    Returns:
        A parser with those flags, the input (``--image_file``, ``--image_dir``,
        ``--video_file``, ``--camera_id``), ``--output_dir``, ``--run_benchmark``,
        ``--save_images``, the predictor settings (``--device`` in any case, ``--run_mode``,
        ``--cpu_threads``, ``--enable_mkldnn``), PaddleDetection's TensorRT flags and
        :data:`DEPLOY_FLAGS`. After parsing, an XPU/NPU device or TensorRT without a GPU is a
        one-line error (exit code 2) and a TensorRT flag without a ``trt_*`` run mode a
        warning.
    """
    parser = CompatParser(description)
    for flag, help_text in model_dirs:
        parser.add_argument(flag, required=True, help=help_text)
    parser.add_argument('--image_file', default=None, help='one image')
    parser.add_argument('--image_dir', default=None, help='a directory of images')
    parser.add_argument('--video_file', default=None, help='a video file')
    parser.add_argument('--camera_id', type=int, default=-1, help='camera index (>= 0 to use)')
    parser.add_argument('--output_dir', default='output', help='where every output goes')
    parser.add_bool('--run_benchmark', help='print per-stage timings, FPS and peak memory')
    parser.add_bool('--save_images', default=True,
                    help='write the annotated images of an image input')
    parser.add_argument('--device', type=str.lower, default='cpu', choices=list(_ASKED_DEVICES),
                        help='CPU or GPU, any case (XPU/NPU are not supported)')
    parser.add_argument('--run_mode', default='paddle', choices=list(RUN_MODES),
                        help='paddle, or TensorRT (GPU): trt_fp32, trt_fp16, trt_int8')
    parser.add_argument('--cpu_threads', type=int, default=2, help='CPU math threads')
    parser.add_bool('--enable_mkldnn', default=True, help='oneDNN on CPU')
    _add_trt_flags(parser)
    parser.add_unsupported(DEPLOY_FLAGS)
    parser.add_check(lambda args: _check_predictor_flags(parser, args))
    return parser


def _add_trt_flags(parser: CompatParser) -> None:
    """PaddleDetection's TensorRT flags, with its defaults (:class:`TensorRTOptions`)."""
    defaults = TensorRTOptions()
    for flag in ('trt_min_shape', 'trt_max_shape', 'trt_opt_shape'):
        parser.add_argument(f'--{flag}', type=int, default=getattr(defaults, _TRT_FLAGS[flag]),
                            help=f'TensorRT {flag[4:7]} image side of a dynamic-shape model')
    parser.add_bool('--trt_calib_mode', help='the model comes from TensorRT int8 calibration')
    parser.add_bool('--collect_trt_shape_info',
                    help='record the input shape ranges into --tuned_trt_shape_file')
    parser.add_argument('--tuned_trt_shape_file', default=defaults.tuned_shape_file,
                        help='TensorRT shape-range file (used when it exists)')


def _check_predictor_flags(parser: CompatParser, args: argparse.Namespace) -> None:
    """Fail on a device or run mode ppkpt cannot run; warn on TensorRT flags that do nothing."""
    try:
        check_options(args.device, args.run_mode)
    except OptionError as err:
        parser.fail(str(err))
    if args.run_mode != 'paddle':
        return
    defaults = TensorRTOptions()
    for dest, field_name in _TRT_FLAGS.items():
        if getattr(args, dest) != getattr(defaults, field_name):
            parser.warn(f'--{dest} only applies with --run_mode trt_fp32/trt_fp16/trt_int8; '
                        f'ignored')


def trt_options(args: argparse.Namespace) -> TensorRTOptions:
    """The TensorRT options of a :func:`deploy_parser` command line."""
    return TensorRTOptions(**{field_name: getattr(args, dest)
                              for dest, field_name in _TRT_FLAGS.items()})


def _open_input(args: argparse.Namespace) -> Tuple[Optional[List[str]], Optional[VideoSource]]:
    """``(None, source)`` for ``--video_file`` or a ``--camera_id`` >= 0, else
    ``(image paths, None)`` from ``--image_file`` / ``--image_dir``; the caller closes the source.
    """
    if args.video_file or args.camera_id >= 0:
        return None, VideoSource(args.video_file, args.camera_id)
    return list_images(args.image_file, args.image_dir), None


def run_on_input(args: argparse.Namespace, build: Callable[[Optional[VideoSource]], Model],
                 run_video: Callable[[Model, VideoSource], Result],
                 run_images: Callable[[Model, List[str]], Result]
                 ) -> Tuple[Model, Result, float]:
    """Open the input of :func:`deploy_parser`, build the model (given the video source, or
    None for images), create ``--output_dir`` and run on the video or the images.

    With ``--run_mode onnxruntime`` the models share one thread pool
    (:func:`~deploy.python.predictor.share_onnx_threads`). The source is closed even when a
    step fails.

    Returns:
        The model, what the run returned, and the seconds from the start of the run until the
        source was closed.
    """
    files, source = _open_input(args)
    if args.run_mode == 'onnxruntime':
        share_onnx_threads(args.cpu_threads)
    try:
        model = build(source)
        os.makedirs(args.output_dir, exist_ok=True)
        start = time.perf_counter()
        result = run_video(model, source) if source is not None else run_images(model, files)
    finally:
        if source is not None:
            source.close()
    return model, result, time.perf_counter() - start


def add_benchmark(args: argparse.Namespace, output: Dict[str, Any], timers: List[StageTimer],
                  frames: int, seconds: float) -> None:
    """With ``--run_benchmark``, put the stage timings, FPS and peak memory of the run into
    ``output['benchmark']`` and print them."""
    if args.run_benchmark:
        output['benchmark'] = benchmark_report(timers, frames, seconds)
        print(output['benchmark'])


def read_image_or_copy(path: str, output_dir: str) -> Optional[np.ndarray]:
    """The (H, W, 3) uint8 RGB image at ``path``; an empty (0-byte), truncated or undecodable
    file is logged, copied unchanged into ``output_dir`` and gives None."""
    try:
        return read_rgb(path)
    except ImageReadError as err:
        target = os.path.join(output_dir, os.path.basename(path))
        if os.path.abspath(target) != os.path.abspath(path):
            shutil.copyfile(path, target)
        logger.warning('%s; copied unchanged to %s', err, target)
        return None


def run_cli(main: Callable[[Optional[List[str]]], Any]) -> None:
    """Run a deploy script's ``main`` on ``sys.argv``: a flag, build or input that cannot be
    used prints one line ``<script>: error: ...`` and exits with code 2."""
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s: %(message)s')
    try:
        main(None)
    except (OptionError, FileNotFoundError, VideoReadError) as err:
        print(f'{os.path.basename(sys.argv[0])}: error: {err}', file=sys.stderr)
        raise SystemExit(2) from None


class VideoSink:
    """An ``mp4v`` video writer with a fixed fps and frame size.

    Args:
        path: output file (its directory is created).
        fps: frames per second.
        size: (w, h) frame size.

    Raises:
        ValueError: when OpenCV cannot open the writer.
    """

    def __init__(self, path: str, fps: float, size: Tuple[int, int]) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.size = (int(size[0]), int(size[1]))
        self._writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), float(fps),
                                       self.size)
        if not self._writer.isOpened():
            raise ValueError(f'cannot open a video writer for {path}')

    def blank(self) -> np.ndarray:
        """A black frame of the writer's size (written in place of an empty frame)."""
        return np.zeros((self.size[1], self.size[0], 3), dtype=np.uint8)

    def write(self, frame: np.ndarray) -> None:
        """Append one (h, w, 3) uint8 BGR frame of the writer's size."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f'{self.path}: frame size {frame.shape[1]}x{frame.shape[0]} differs '
                             f'from the video size {self.size[0]}x{self.size[1]}')
        self._writer.write(frame)

    def close(self) -> None:
        """Finish the file."""
        self._writer.release()


def annotate_video(source: 'VideoSource', output_dir: str,
                   annotate: Callable[[np.ndarray], Tuple[np.ndarray, Dict[str, Any]]],
                   empty_fields: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Write every frame of ``source`` as ``annotate`` draws it into ``output_dir/<name>.mp4``.

    Args:
        source: the video.
        output_dir: where the video goes.
        annotate: takes the (H, W, 3) BGR frame, returns the drawn frame and the fields of the
            frame's record.
        empty_fields: the record fields of an empty frame, which is written black (logged).

    Returns:
        One record per frame: ``{'frame': index, **fields}`` (empty frames also have
        ``'skipped': 'empty frame'``).
    """
    sink = VideoSink(os.path.join(output_dir, f'{source.name}.mp4'), source.fps, source.size)
    records = []
    try:
        for index, frame in enumerate(source):
            if is_empty(frame):
                logger.warning('%s: frame %d is empty; written as a black frame without '
                               'annotations', source.label, index)
                sink.write(sink.blank())
                records.append({'frame': index, **empty_fields, 'skipped': 'empty frame'})
                continue
            drawn, fields = annotate(frame)
            sink.write(drawn)
            records.append({'frame': index, **fields})
    finally:
        sink.close()
    return records


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as JSON atomically (a temporary file, then a rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def add_smoothing_flags(parser: CompatParser) -> None:
    """The per-track smoothing flags of the video pipelines (top-down and bottom-up)."""
    parser.add_bool('--smooth', help='smooth keypoints per track (videos)')
    parser.add_argument('--filter_type', default='OneEuro', choices=list(FILTER_TYPES))
    parser.add_argument('--min_cutoff', type=float, default=1.0, help='One Euro cutoff (Hz)')
    parser.add_argument('--beta', type=float, default=0.05, help='One Euro speed coefficient')
    parser.add_argument('--d_cutoff', type=float, default=1.0, help='One Euro speed cutoff (Hz)')
    parser.add_argument('--alpha', type=float, default=0.5, help='EMA weight of the new frame')


def smoother_params(args: argparse.Namespace) -> Dict[str, float]:
    """The ``KeypointSmoother`` arguments of parsed :func:`add_smoothing_flags` flags."""
    return {'min_cutoff': args.min_cutoff, 'beta': args.beta, 'd_cutoff': args.d_cutoff,
            'alpha': args.alpha}
