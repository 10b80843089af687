"""Keypoint inference with Paddle Inference: :class:`KeypointDetector` and a CLI.

    python deploy/python/keypoint_infer.py --model_dir output_inference/hrnet \
        --image_file person.jpg [--output_dir output] [--save_results] [--run_benchmark]

The CLI treats the whole image (or frame) as the person box. Dimension names: P persons,
K joints, H x W heatmap rows x columns.
"""
import argparse
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.io_utils import (VideoSink, VideoSource, add_benchmark,  # noqa: E402
                                    deploy_parser, run_on_input, str2bool, write_json)
from deploy.python.predictor import Predictor, StageTimer, find_model_files  # noqa: E402
from deploy.python.preprocess import (TopDownEvalAffine, build_preprocess,  # noqa: E402
                                     decode_image)
from ppkpt.codecs.heatmap import HeatmapCodec  # noqa: E402
from ppkpt.geometry import box_to_center_scale  # noqa: E402
from ppkpt.metadata import KeypointMeta  # noqa: E402
from ppkpt.visualize import draw_keypoints  # noqa: E402

__all__ = ['KeypointDetector', 'expand_box', 'ARCH_KINDS', 'main']

ARCH_KINDS = {'TopDownHRNet': 'topdown', 'HRNet': 'topdown'}
"""infer_cfg ``arch`` -> pipeline kind; ``HRNet`` is what PaddleDetection writes."""


def expand_box(box: Sequence[float], image_size: Tuple[int, int], expand_ratio: float = 1.3,
               min_aspect: float = 0.75) -> np.ndarray:
    """Grow a detector box into the region the keypoint model sees.

    Both sides grow by ``expand_ratio`` about the centre; a box narrower than ``min_aspect``
    (w / h) is then widened to it; the result is clipped to the image.

    Args:
        box: (4,) box (x1, y1, x2, y2) in pixels.
        image_size: (w, h) of the image.
        expand_ratio: growth factor of both sides.
        min_aspect: smallest width / height kept (3:4 by default); 0 disables widening.

    Returns:
        (4,) float64 box (x1, y1, x2, y2).
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    half_w, half_h = 0.5 * (x2 - x1) * expand_ratio, 0.5 * (y2 - y1) * expand_ratio
    half_w = max(half_w, min_aspect * half_h)
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    width, height = image_size
    return np.array([max(cx - half_w, 0.0), max(cy - half_h, 0.0), min(cx + half_w, width - 1.0),
                     min(cy + half_h, height - 1.0)])


class KeypointDetector:
    """Run an exported keypoint model on person boxes.

    Args:
        model_dir: exported model directory (``infer_cfg.yml`` + model files).
        device: ``'cpu'`` or ``'gpu'``.
        run_mode: ``'paddle'``, ``'trt_fp32'`` or ``'trt_fp16'``.
        batch_size: crops per predictor call.
        cpu_threads: math library threads on CPU.
        enable_mkldnn: use oneDNN on CPU.
        use_dark: DARK decoding; None takes ``use_dark`` from ``infer_cfg.yml``.
        expand_ratio: box growth before cropping (see :func:`expand_box`).
        min_aspect: tall boxes are widened to this width / height.
        timer: collects ``kpt_pre``, ``kpt_infer`` and ``kpt_post`` times; a new one if None.

    Raises:
        FileNotFoundError: when the model directory or a model file is missing.
        ValueError: when the ``arch`` is not supported or ``Preprocess`` has no
            ``TopDownEvalAffine``.
    """

    def __init__(self, model_dir: str, device: str = 'cpu', run_mode: str = 'paddle',
                 batch_size: int = 1, cpu_threads: int = 2, enable_mkldnn: bool = True,
                 use_dark: Optional[bool] = None, expand_ratio: float = 1.3,
                 min_aspect: float = 0.75, timer: Optional[StageTimer] = None) -> None:
        self.predictor = Predictor(model_dir, device, run_mode, cpu_threads, enable_mkldnn,
                                   batch_size)
        cfg = self.predictor.infer_cfg
        if cfg.arch not in ARCH_KINDS:
            raise ValueError(f'{model_dir}/infer_cfg.yml: arch {cfg.arch!r} is not supported; '
                             f'supported: {sorted(ARCH_KINDS)}')
        self._predict_by_kind = {'topdown': self._predict_topdown}[ARCH_KINDS[cfg.arch]]
        self.preprocess = build_preprocess(cfg.preprocess, f'{model_dir}/infer_cfg.yml')
        affine = next((op for op in self.preprocess.ops if isinstance(op, TopDownEvalAffine)),
                      None)
        if affine is None:
            raise ValueError(f'{model_dir}/infer_cfg.yml: Preprocess has no TopDownEvalAffine')
        self.affine = affine
        self.batch_size = batch_size
        self.use_dark = cfg.use_dark if use_dark is None else use_dark
        self.expand_ratio = expand_ratio
        self.min_aspect = min_aspect
        self.timer = timer or StageTimer()
        self.meta = (KeypointMeta.from_config(cfg.metadata) if 'num_joints' in cfg.metadata
                     else KeypointMeta(self._probe_num_joints()).validate())

    def _probe_num_joints(self) -> int:
        """K of a model exported without keypoint metadata (a PaddleDetection export): the
        heatmap channels of one run on a blank crop, which also warms the predictor up."""
        width, height = (int(v) for v in self.affine.trainsize)
        blank = np.zeros((1, 3, height, width), dtype=np.float32)
        return int(self.predictor.run({self.predictor.input_names[0]: blank})[0].shape[1])

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None
                ) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of every person box in ``image``.

        Args:
            image: (H, W, 3) uint8 RGB image.
            boxes: (P, 4+) boxes (x1, y1, x2, y2, ...) in pixels; None uses the whole image
                (not expanded).

        Returns:
            keypoints: (P, K, 3) float32 (x, y, score) in image pixels.
            scores: (P,) float32 mean joint score per person.
        """
        return self._predict_by_kind(image, boxes)

    def _crop_geometry(self, image: np.ndarray, boxes: Optional[np.ndarray]
                       ) -> List[Tuple[np.ndarray, np.ndarray]]:
        """(center, scale) per box in ``pixel_std`` units, padded to the model aspect."""
        height, width = image.shape[:2]
        aspect = self.affine.trainsize[0] / self.affine.trainsize[1]
        if boxes is None:
            regions = [np.array([0.0, 0.0, width, height])]
        else:
            regions = [expand_box(box, (width, height), self.expand_ratio, self.min_aspect)
                       for box in np.asarray(boxes, dtype=np.float64).reshape(-1, boxes.shape[-1])]
        geometry = []
        for x1, y1, x2, y2 in regions:
            center, scale = box_to_center_scale([x1, y1, x2 - x1, y2 - y1], aspect,
                                                self.affine.pixel_std, padding=1.0)
            geometry.append((center, scale))
        return geometry

    def _predict_topdown(self, image: np.ndarray, boxes: Optional[np.ndarray]
                         ) -> Tuple[np.ndarray, np.ndarray]:
        geometry = self._crop_geometry(image, boxes)
        keypoints, scores = [], []
        for start in range(0, len(geometry), self.batch_size):
            chunk = geometry[start:start + self.batch_size]
            with self.timer.stage('kpt_pre'):
                batch = self._crops(image, chunk)
            with self.timer.stage('kpt_infer'):
                heatmaps = self.predictor.run({self.predictor.input_names[0]: batch})[0]
            with self.timer.stage('kpt_post'):
                kpts, score = self._decode(heatmaps, chunk)
            keypoints.append(kpts)
            scores.append(score)
        if not keypoints:
            return np.zeros((0, self.meta.num_joints, 3), np.float32), np.zeros(0, np.float32)
        return np.concatenate(keypoints), np.concatenate(scores)

    def _crops(self, image: np.ndarray, chunk: List[Tuple[np.ndarray, np.ndarray]]
               ) -> np.ndarray:
        """(B, 3, h, w) float32 network inputs for the boxes in ``chunk``."""
        crops = []
        for center, scale in chunk:
            _, im_info = decode_image(image)
            im_info.update(center=center, scale=scale)
            crop, _ = self.preprocess(image, im_info)
            crops.append(crop)
        return np.stack(crops).astype(np.float32)

    def _decode(self, heatmaps: np.ndarray, chunk: List[Tuple[np.ndarray, np.ndarray]]
                ) -> Tuple[np.ndarray, np.ndarray]:
        """Heatmaps (B, K, H, W) -> keypoints (B, K, 3) in image pixels and scores (B,)."""
        if heatmaps.ndim != 4 or heatmaps.shape[0] != len(chunk):
            raise ValueError(f'{self.predictor.model_dir}: expected heatmaps (B={len(chunk)}, K, '
                             f'H, W) as output 0, got {heatmaps.shape}')
        self._check_joints(heatmaps.shape[1])
        heatmap_size = [heatmaps.shape[3], heatmaps.shape[2]]
        codec = HeatmapCodec(self.affine.trainsize, heatmap_size,
                             target_type='udp' if self.affine.use_udp else 'gaussian',
                             use_dark=self.use_dark)
        centers = np.asarray([center for center, _ in chunk], dtype=np.float64)
        scales_px = np.asarray([scale for _, scale in chunk], dtype=np.float64) \
            * self.affine.pixel_std
        out = codec.decode_to_image(heatmaps, centers, scales_px)
        return out, out[:, :, 2].mean(axis=1)

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
    import cv2
    results = []
    for path in files:
        image, _ = decode_image(path)
        keypoints, scores = detector.predict(image)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        out_path = os.path.join(args.output_dir, os.path.basename(path))
        cv2.imwrite(out_path, _draw(detector, bgr, keypoints, args.threshold))
        results.append({'image': path, 'persons': _person_records(keypoints, scores)})
    return results


def _run_video(detector: KeypointDetector, source: VideoSource, args: argparse.Namespace
               ) -> List[Dict[str, Any]]:
    import cv2
    sink = VideoSink(os.path.join(args.output_dir, f'{source.name}.mp4'), source.fps, source.size)
    results = []
    try:
        for index, frame in enumerate(source):
            keypoints, scores = detector.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            sink.write(_draw(detector, frame, keypoints, args.threshold))
            results.append({'frame': index, 'persons': _person_records(keypoints, scores)})
    finally:
        sink.close()
    return results


def build_parser() -> argparse.ArgumentParser:
    """The CLI of this script."""
    parser = deploy_parser(__doc__, [('--model_dir', 'exported keypoint model directory')])
    parser.add_argument('--batch_size', type=int, default=1, help='crops per predictor call')
    parser.add_argument('--threshold', type=float, default=0.5, help='joint score to draw')
    parser.add_argument('--save_results', action='store_true', help='write keypoint_results.json')
    parser.add_argument('--use_dark', type=str2bool, default=None,
                        help='DARK decoding (true/false); default: infer_cfg.yml use_dark')
    return parser


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the CLI; returns the results (and ``benchmark`` when asked)."""
    args = build_parser().parse_args(argv)
    find_model_files(args.model_dir)
    detector, results, seconds = run_on_input(
        args, lambda _: KeypointDetector(args.model_dir, args.device, args.run_mode,
                                         args.batch_size, args.cpu_threads, args.enable_mkldnn,
                                         args.use_dark),
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
    main()
