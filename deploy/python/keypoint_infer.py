"""Keypoint inference with Paddle Inference: :class:`KeypointDetector` and a CLI.

    python deploy/python/keypoint_infer.py --model_dir output_inference/hrnet \
        --image_file person.jpg [--output_dir output] [--save_results] [--run_benchmark]

The CLI treats the whole image (or frame) as the person box. Dimension names: P persons,
K joints, H x W heatmap rows x columns.
"""
import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.io_utils import (VideoSource, add_benchmark, annotate_video,  # noqa: E402
                                    deploy_parser, is_empty, read_image_or_copy, run_cli,
                                    run_on_input, trt_options, write_json)
from deploy.python.predictor import (InferConfig, Predictor, StageTimer,  # noqa: E402
                                     TensorRTOptions, find_model_files, load_infer_cfg)
from ppkpt.codecs import KeypointCodec, build_codec  # noqa: E402
from ppkpt.data.transforms.preprocess import TopDownEvalAffine, build_preprocess  # noqa: E402
from ppkpt.geometry import clip_box_xywh  # noqa: E402
from ppkpt.metadata import KeypointMeta  # noqa: E402
from ppkpt.visualize import draw_keypoints  # noqa: E402

__all__ = ['KeypointDetector', 'ARCH_KINDS', 'usable_boxes', 'model_kind', 'main']

logger = logging.getLogger('ppkpt.deploy')

ARCH_KINDS = {'TopDownHRNet': 'topdown', 'HRNet': 'topdown', 'HigherHRNet': 'bottomup'}
"""infer_cfg ``arch`` -> pipeline kind; ``HRNet`` is what PaddleDetection writes. Bottom-up
exports run in :mod:`deploy.python.bottomup_infer`."""


def usable_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which boxes can be cropped from a ``width`` x ``height`` image.

    A box is dropped (with a debug log naming it and why) when a coordinate is not finite, it
    is inverted (x2 < x1 or y2 < y1), it is under 1 px wide or high, under 1 px of it lies
    inside the image, or the clipping the crop applies (:func:`ppkpt.geometry.clip_box_xywh`)
    leaves it under 1 px wide or high. Decoded, such boxes put every joint on one point, off
    the image or at arbitrary places.

    Args:
        boxes: (P, 4) boxes (x1, y1, x2, y2) in pixels.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        (P,) bool mask of the boxes kept.
    """
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.zeros(len(array), dtype=bool)
    for index, box in enumerate(array):
        problem = _box_problem(box, width, height)
        if problem is None:
            keep[index] = True
        else:
            logger.debug('box %d %s dropped: %s', index, box.tolist(), problem)
    return keep


def _box_problem(box: np.ndarray, width: int, height: int) -> Optional[str]:
    """Why the (4,) xyxy ``box`` cannot be cropped, or None."""
    if not np.isfinite(box).all():
        return 'a coordinate is not finite'
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 < x1 or y2 < y1:
        return 'inverted (x2 < x1 or y2 < y1)'
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        return 'under 1 px wide or high'
    if min(x2, width) - max(x1, 0.0) < 1.0 or min(y2, height) - max(y1, 0.0) < 1.0:
        return f'outside the {width}x{height} image'
    clipped = clip_box_xywh([x1, y1, x2 - x1, y2 - y1], width, height)
    if clipped is None or clipped[2] < 1.0 or clipped[3] < 1.0:
        return 'under 1 px wide or high after clipping to the image'
    return None


class KeypointDetector:
    """Run an exported keypoint model on person boxes.

    The crops, normalisation and decoding are the evaluation ones: the ``Preprocess`` ops of
    ``infer_cfg.yml`` built by :func:`ppkpt.data.transforms.preprocess.build_preprocess`, and
    the codec rebuilt from its ``codec`` entry. A box is clipped to the image, padded to the
    model aspect and enlarged by ``TopDownEvalAffine.padding`` (1.25), as the eval datasets do
    with ground-truth boxes, so eval and deploy give the same keypoints for the same boxes.

    Args:
        model_dir: exported model directory (``infer_cfg.yml`` + model files).
        device: ``'cpu'`` or ``'gpu'``.
        run_mode: ``'paddle'``, ``'trt_fp32'`` or ``'trt_fp16'``.
        batch_size: crops per predictor call.
        cpu_threads: math library threads on CPU.
        enable_mkldnn: use oneDNN on CPU.
        use_dark: DARK decoding; None keeps the codec's.
        flip_test: also run each crop mirrored and merge the heatmaps with the codec, as
            evaluation does; None follows ``infer_cfg.yml`` (``flip_test``, written from the
            head at export; False for exports that do not say). It doubles the model's work.
        timer: collects ``kpt_pre``, ``kpt_infer`` and ``kpt_post`` times; a new one if None.
        trt: TensorRT options for a ``trt_*`` run mode.

    Raises:
        FileNotFoundError: when the model directory or a model file is missing.
        OptionError: when the device or run mode cannot be used (see ``Predictor``).
        ValueError: when the ``arch`` is not supported or ``Preprocess`` has no
            ``TopDownEvalAffine``.
    """

    def __init__(self, model_dir: str, device: str = 'cpu', run_mode: str = 'paddle',
                 batch_size: int = 1, cpu_threads: int = 2, enable_mkldnn: bool = True,
                 use_dark: Optional[bool] = None, flip_test: Optional[bool] = None,
                 timer: Optional[StageTimer] = None,
                 trt: Optional[TensorRTOptions] = None) -> None:
        self.predictor = Predictor(model_dir, device, run_mode, cpu_threads, enable_mkldnn,
                                   2 * batch_size, trt)
        cfg = self.predictor.infer_cfg
        source = f'{model_dir}/infer_cfg.yml'
        if ARCH_KINDS.get(cfg.arch) != 'topdown':
            raise ValueError(f'{source}: arch {cfg.arch!r} is not supported by this top-down '
                             f'detector; supported: '
                             f'{sorted(k for k, v in ARCH_KINDS.items() if v == "topdown")}')
        self.codec = self._codec(cfg, source, use_dark)
        self.preprocess = build_preprocess(cfg.preprocess, self.codec, source)
        affine = next((op for op in self.preprocess.ops if isinstance(op, TopDownEvalAffine)),
                      None)
        if affine is None:
            raise ValueError(f'{source}: Preprocess has no TopDownEvalAffine')
        self.affine = affine
        self.batch_size = batch_size
        self.timer = timer or StageTimer()
        self.flip_test = cfg.flip_test if flip_test is None else bool(flip_test)
        self.meta = (KeypointMeta.from_config(cfg.metadata) if 'num_joints' in cfg.metadata
                     else KeypointMeta(self._probe_output_shape()[1]).validate())

    def _codec(self, cfg: InferConfig, source: str, use_dark: Optional[bool]) -> KeypointCodec:
        """The export's codec, or for a PaddleDetection export (no ``codec`` entry) a heatmap
        codec from its ``TopDownEvalAffine`` size, ``use_dark`` and the output size."""
        if cfg.codec:
            spec = dict(cfg.codec)
        else:
            affine = next((op for op in cfg.preprocess if op['type'] == 'TopDownEvalAffine'), {})
            if 'trainsize' not in affine:
                raise ValueError(f'{source}: no `codec` entry and no TopDownEvalAffine.trainsize')
            self.input_size = [int(v) for v in affine['trainsize']]
            height, width = self._probe_output_shape()[2:]
            spec = {'type': 'HeatmapCodec', 'input_size': self.input_size,
                    'heatmap_size': [width, height], 'use_dark': cfg.use_dark,
                    'target_type': 'udp' if affine.get('use_udp') else 'gaussian'}
        if use_dark is not None:
            spec['use_dark'] = bool(use_dark)
        return build_codec(spec, f'{source} codec')

    def _probe_output_shape(self) -> Tuple[int, ...]:
        """(1, K, H, W) of one run on a blank crop (exports without metadata or codec); the run
        also warms the predictor up."""
        width, height = getattr(self, 'input_size', None) or self.codec.input_size
        blank = np.zeros((1, 3, int(height), int(width)), dtype=np.float32)
        return tuple(self.predictor.run({self.predictor.input_names[0]: blank})[0].shape)

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None
                ) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of every person box in ``image``.

        Boxes that :func:`usable_boxes` rejects are dropped (debug log) and not decoded; pass
        the boxes through :func:`usable_boxes` first to keep rows aligned with them. An empty
        image (no pixels) gives no person and a warning.

        Args:
            image: (H, W, 3) uint8 RGB image.
            boxes: (P, 4+) boxes (x1, y1, x2, y2, ...) in pixels; None uses the whole image.

        Returns:
            keypoints: (P', K, 3) float32 (x, y, score) in image pixels, one row per kept box.
            scores: (P',) float32 mean joint score per person.

        Raises:
            ValueError: when ``image`` is not (H, W, 3).
        """
        if is_empty(image):
            logger.warning('empty image (shape %s): no keypoints', getattr(image, 'shape', None))
            return self._no_persons()
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) RGB image, got shape {image.shape}')
        records = self._records(image, boxes)
        keypoints, scores = [], []
        for start in range(0, len(records), self.batch_size):
            chunk = records[start:start + self.batch_size]
            with self.timer.stage('kpt_pre'):
                chunk = [self.preprocess(record) for record in chunk]
                batch = np.stack([record['image'] for record in chunk]).astype(np.float32)
            with self.timer.stage('kpt_infer'):
                heatmaps = self._heatmaps(batch)
            with self.timer.stage('kpt_post'):
                kpts = self._decode(heatmaps, chunk)
            keypoints.append(kpts)
            scores.append(kpts[:, :, 2].mean(axis=1))
        if not keypoints:
            return self._no_persons()
        return np.concatenate(keypoints), np.concatenate(scores)

    def _no_persons(self) -> Tuple[np.ndarray, np.ndarray]:
        """(0, K, 3) keypoints and (0,) scores."""
        return np.zeros((0, self.meta.num_joints, 3), np.float32), np.zeros(0, np.float32)

    def _heatmaps(self, batch: np.ndarray) -> np.ndarray:
        """(B, K, H, W) heatmaps of (B, 3, h, w) crops, merged with the mirrored crops' heatmaps
        by the codec when ``flip_test`` is on (both in one predictor call)."""
        name = self.predictor.input_names[0]
        if not self.flip_test:
            return self.predictor.run({name: batch})[0]
        both = self.predictor.run({name: np.concatenate([batch, batch[..., ::-1]])})[0]
        plain, mirrored = np.split(both, 2)
        return self.codec.merge_flip(plain, mirrored, self.meta.flip_pairs)

    @staticmethod
    def _records(image: np.ndarray, boxes: Optional[np.ndarray]) -> List[Dict[str, Any]]:
        """One preprocessing record per usable box: the image and its (x, y, w, h) box."""
        if boxes is None:
            return [{'image': image}]
        array = np.asarray(boxes, dtype=np.float64)
        if array.size == 0:
            return []
        xyxy = array.reshape(len(array), -1)[:, :4]
        xyxy = xyxy[usable_boxes(xyxy, image.shape[1], image.shape[0])]
        return [{'image': image, 'bbox': [x1, y1, x2 - x1, y2 - y1]} for x1, y1, x2, y2 in xyxy]

    def _decode(self, heatmaps: np.ndarray, chunk: List[Dict[str, Any]]) -> np.ndarray:
        """Heatmaps (B, K, H, W) -> keypoints (B, K, 3) in image pixels."""
        if heatmaps.ndim != 4 or heatmaps.shape[0] != len(chunk):
            raise ValueError(f'{self.predictor.model_dir}: expected heatmaps (B={len(chunk)}, K, '
                             f'H, W) as output 0, got {heatmaps.shape}')
        self._check_joints(heatmaps.shape[1])
        centers = np.asarray([record['center'] for record in chunk], dtype=np.float64)
        scales_px = np.asarray([record['scale'] for record in chunk], dtype=np.float64) \
            * self.affine.pixel_std
        return self.codec.decode_to_image(heatmaps, centers, scales_px)

    def _check_joints(self, num_joints: int) -> None:
        if self.meta.num_joints != num_joints:
            raise ValueError(f'{self.predictor.model_dir}: the model predicts {num_joints} joints '
                             f'but infer_cfg.yml says num_joints={self.meta.num_joints}')


def _person_records(keypoints: np.ndarray, scores: np.ndarray) -> List[Dict[str, Any]]:
    return [{'keypoints': keypoints[p].round(3).tolist(), 'score': float(scores[p])}
            for p in range(len(keypoints))]


def _draw(detector: KeypointDetector, frame_bgr: np.ndarray, keypoints: np.ndarray,
          threshold: float) -> np.ndarray:
    return draw_keypoints(frame_bgr, keypoints, detector.meta.skeleton, threshold,
                          colors=detector.meta.colors)


def _run_images(detector: KeypointDetector, files: List[str], args: argparse.Namespace
                ) -> List[Dict[str, Any]]:
    """Annotate each image into ``--output_dir``; an unreadable one is copied unchanged."""
    import cv2
    results = []
    for path in files:
        image = read_image_or_copy(path, args.output_dir)
        if image is None:
            results.append({'image': path, 'persons': [], 'skipped': 'unreadable image'})
            continue
        keypoints, scores = detector.predict(image)
        if args.save_images:
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            out_path = os.path.join(args.output_dir, os.path.basename(path))
            cv2.imwrite(out_path, _draw(detector, bgr, keypoints, args.threshold))
        results.append({'image': path, 'persons': _person_records(keypoints, scores)})
    return results


def _run_video(detector: KeypointDetector, source: VideoSource, args: argparse.Namespace
               ) -> List[Dict[str, Any]]:
    """Annotate every frame into ``<output_dir>/<name>.mp4``."""
    import cv2

    def annotate(frame: np.ndarray) -> Tuple[np.ndarray, Dict[str, Any]]:
        keypoints, scores = detector.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        return (_draw(detector, frame, keypoints, args.threshold),
                {'persons': _person_records(keypoints, scores)})

    return annotate_video(source, args.output_dir, annotate, {'persons': []})


def build_parser() -> argparse.ArgumentParser:
    """The CLI of this script."""
    parser = deploy_parser(__doc__, [('--model_dir', 'exported keypoint model directory')])
    parser.add_argument('--batch_size', type=int, default=1, help='crops per predictor call')
    parser.add_argument('--threshold', type=float, default=0.5, help='joint score to draw')
    parser.add_bool('--save_results', help='write keypoint_results.json')
    parser.add_bool('--use_dark', default=None,
                    help='DARK decoding; default: the codec in infer_cfg.yml')
    parser.add_bool('--flip_test', default=None,
                    help='flip test as in evaluation; default: infer_cfg.yml flip_test')
    return parser


def model_kind(argv: Optional[List[str]]) -> str:
    """The :data:`ARCH_KINDS` kind of the ``--model_dir`` export of a command line;
    ``'topdown'`` when it cannot be read (the top-down path then names the problem)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument('--model_dir', default=None)
    model_dir = peek.parse_known_args(argv)[0].model_dir
    try:
        return ARCH_KINDS.get(load_infer_cfg(model_dir).arch, 'topdown') if model_dir \
            else 'topdown'
    except (FileNotFoundError, ValueError):
        return 'topdown'


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the CLI; returns the results (and ``benchmark`` when asked). A bottom-up export
    runs :func:`deploy.python.bottomup_infer.main` (its flags add ``--smooth`` and the
    filter settings)."""
    if model_kind(argv) == 'bottomup':
        from deploy.python.bottomup_infer import main as bottomup_main
        return bottomup_main(argv)
    args = build_parser().parse_args(argv)
    find_model_files(args.model_dir)
    detector, results, seconds = run_on_input(
        args, lambda _: KeypointDetector(args.model_dir, args.device, args.run_mode,
                                         args.batch_size, args.cpu_threads, args.enable_mkldnn,
                                         args.use_dark, args.flip_test, trt=trt_options(args)),
        lambda model, source: _run_video(model, source, args),
        lambda model, files: _run_images(model, files, args))
    output: Dict[str, Any] = {'results': results}
    add_benchmark(args, output, [detector.timer], len(results), seconds)
    if args.save_results:
        write_json(os.path.join(args.output_dir, 'keypoint_results.json'),
                   {'results': results, 'num_joints': detector.meta.num_joints,
                    'keypoint_names': list(detector.meta.names)})
    return output


if __name__ == '__main__':
    run_cli(main)
