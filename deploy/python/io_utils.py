"""Image, video and camera sources, the video writer, JSON output and the shared CLI flags
for the deploy scripts.

Sources are opened and their first frame read when they are created, so a bad path or a
missing camera fails before any model work starts.
"""
import argparse
import json
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

import cv2
import numpy as np

from deploy.python.predictor import DEVICES, RUN_MODES, StageTimer, benchmark_report
from ppkpt.image_io import list_images

__all__ = ['VideoSource', 'VideoSink', 'write_json', 'str2bool',
           'deploy_parser', 'run_on_input', 'add_benchmark']

_DEFAULT_FPS = 30.0

Model = TypeVar('Model')
Result = TypeVar('Result')


def str2bool(value: str) -> bool:
    """argparse type for real booleans: true/false, yes/no, 1/0 (case-insensitive)."""
    lowered = str(value).strip().lower()
    if lowered in ('true', 'yes', '1', 'y', 't'):
        return True
    if lowered in ('false', 'no', '0', 'n', 'f'):
        return False
    raise ValueError(f'expected a boolean (true/false), got {value!r}')


class VideoSource:
    """Frames of a video file or a camera, as (H, W, 3) uint8 BGR arrays.

    Args:
        video_file: path of a video file; used when given.
        camera_id: camera index, used when ``video_file`` is None.

    Attributes:
        fps: frames per second (30 when the source does not report it).
        size: (w, h) frame size.
        name: output name stem (the video basename, or ``camera<id>``).

    Raises:
        FileNotFoundError: when ``video_file`` does not exist.
        ValueError: when the source cannot be opened or its first frame cannot be read.
    """

    def __init__(self, video_file: Optional[str] = None, camera_id: int = -1) -> None:
        if video_file:
            if not os.path.isfile(video_file):
                raise FileNotFoundError(f'--video_file not found: {video_file}')
            label = f'video file {video_file}'
            self.name = os.path.splitext(os.path.basename(video_file))[0]
            self._capture = cv2.VideoCapture(video_file)
        elif camera_id >= 0:
            label = f'camera {camera_id}'
            self.name = f'camera{camera_id}'
            self._capture = cv2.VideoCapture(camera_id)
        else:
            raise ValueError('give --video_file or a --camera_id >= 0')
        ok, frame = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or frame is None:
            self._capture.release()
            raise ValueError(f'cannot read from {label}: not opened or no first frame')
        self._first: Optional[np.ndarray] = frame
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if fps > 0 else _DEFAULT_FPS
        self.size = (int(frame.shape[1]), int(frame.shape[0]))

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while True:
            ok, frame = self._capture.read()
            if not ok:
                return
            yield frame

    def close(self) -> None:
        """Release the capture."""
        self._capture.release()


def deploy_parser(description: str, model_dirs: Sequence[Tuple[str, str]]
                  ) -> argparse.ArgumentParser:
    """The argument parser every deploy CLI starts from.

    Args:
        description: the script's docstring (shown by ``--help``).
        model_dirs: ``(flag, help)`` of each required model-directory flag.

    Returns:
        A parser with those flags, the input (``--image_file``, ``--image_dir``,
        ``--video_file``, ``--camera_id``), ``--output_dir``, ``--run_benchmark`` and the
        predictor settings (``--device``, ``--run_mode``, ``--cpu_threads``, ``--enable_mkldnn``).
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, help_text in model_dirs:
        parser.add_argument(flag, required=True, help=help_text)
    parser.add_argument('--image_file', default=None, help='one image')
    parser.add_argument('--image_dir', default=None, help='a directory of images')
    parser.add_argument('--video_file', default=None, help='a video file')
    parser.add_argument('--camera_id', type=int, default=-1, help='camera index (>= 0 to use)')
    parser.add_argument('--output_dir', default='output', help='where every output goes')
    parser.add_argument('--run_benchmark', action='store_true', help='print per-stage timings')
    parser.add_argument('--device', default='cpu', choices=list(DEVICES))
    parser.add_argument('--run_mode', default='paddle', choices=list(RUN_MODES))
    parser.add_argument('--cpu_threads', type=int, default=2, help='CPU math threads')
    parser.add_argument('--enable_mkldnn', type=str2bool, default=True,
                        help='oneDNN on CPU (true/false)')
    return parser


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

    The source is closed even when a step fails.

    Returns:
        The model, what the run returned, and the seconds from the start of the run until the
        source was closed.
    """
    files, source = _open_input(args)
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

    def write(self, frame: np.ndarray) -> None:
        """Append one (h, w, 3) uint8 BGR frame of the writer's size."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f'{self.path}: frame size {frame.shape[1]}x{frame.shape[0]} differs '
                             f'from the video size {self.size[0]}x{self.size[1]}')
        self._writer.write(frame)

    def close(self) -> None:
        """Finish the file."""
        self._writer.release()


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as JSON atomically (a temporary file, then a rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
