"""Bottom-up pose estimation with an exported HigherHRNet: all people of a frame in one pass.

    python deploy/python/keypoint_infer.py --model_dir output_inference/higherhrnet_hrnet_w32_512 \
        --video_file walk.mp4 --output_dir output --save_results --smooth

``keypoint_infer.py`` hands bottom-up exports (``arch`` of kind ``bottomup`` in its
``ARCH_KINDS``) to :func:`main` here; this script also runs them directly. No detector is
needed: the model finds the joints of everybody and the codec groups them into people.

Outputs are those of ``det_keypoint_unite_infer.py`` (its :func:`run_video` /
:func:`run_images` write them): annotated images or ``<name>.mp4`` and, with
``--save_results``, the same JSON, where a person's ``bbox`` is the extent of its joints at
``--threshold`` and ``bbox_score`` its person score. In videos each person gets a stable
``track_id`` from the same :class:`~deploy.python.tracker.PoseTracker` and, with ``--smooth``,
its own :class:`~deploy.python.smoothing.KeypointSmoother`.

Dimension names: P people, K joints, h x w the network input.
"""
import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from deploy.python.io_utils import (VideoSource, add_benchmark, add_smoothing_flags,  # noqa: E402
                                    is_empty, run_cli, run_on_input, smoother_params,
                                    trt_options)
from deploy.python.keypoint_infer import ARCH_KINDS  # noqa: E402
from deploy.python.keypoint_infer import build_parser as keypoint_parser  # noqa: E402
from deploy.python.pipeline import (CLI_VIDEO_DEFAULTS, PERSON_CLASS,  # noqa: E402
                                    TopDownPipeline, VideoOptions, keypoint_box)
from deploy.python.pipeline_outputs import run_images, run_video  # noqa: E402
from deploy.python.predictor import (Predictor, StageTimer, TensorRTOptions,  # noqa: E402
                                     find_model_files)
from ppkpt.codecs import AssociativeEmbeddingCodec, build_codec  # noqa: E402
from ppkpt.core.cli import CompatParser  # noqa: E402
from ppkpt.data.transforms.preprocess import EvalAffine, build_preprocess  # noqa: E402
from ppkpt.metadata import KeypointMeta  # noqa: E402

__all__ = ['BottomUpDetector', 'BottomUpPipeline', 'person_boxes', 'add_smoothing_flags',
           'build_parser', 'main']

logger = logging.getLogger('ppkpt.deploy')


class BottomUpDetector:
    """Run an exported bottom-up model on whole images.

    The resize, normalisation, flip merging and grouping are the evaluation ones: the
    ``Preprocess`` ops of ``infer_cfg.yml`` (``EvalAffine``, ``NormalizeImage``, ``Permute``)
    built by :func:`~ppkpt.data.transforms.preprocess.build_preprocess`, and the
    :class:`~ppkpt.codecs.AssociativeEmbeddingCodec` rebuilt from its ``codec`` entry, whose
    ``merge_flip`` and ``decode_to_image`` ``HigherHRNet`` calls at evaluation.

    Args:
        model_dir: exported model directory (``infer_cfg.yml`` + model files).
        device: ``'cpu'`` or ``'gpu'``.
        run_mode: ``'paddle'`` or a TensorRT mode.
        cpu_threads: math library threads on CPU.
        enable_mkldnn: use oneDNN on CPU.
        flip_test: also run the mirrored image and merge with the codec, as evaluation does;
            None follows ``infer_cfg.yml`` ``flip_test``. It doubles the model's work.
        timer: collects ``kpt_pre``, ``kpt_infer`` and ``kpt_post`` times; a new one if None.
        trt: TensorRT options for a ``trt_*`` run mode.

    Raises:
        FileNotFoundError: when the model directory or a model file is missing.
        ValueError: when the export is not a bottom-up model with an associative-embedding
            codec, keypoint metadata and an ``EvalAffine`` in ``Preprocess``.
    """

    def __init__(self, model_dir: str, device: str = 'cpu', run_mode: str = 'paddle',
                 cpu_threads: int = 2, enable_mkldnn: bool = True,
                 flip_test: Optional[bool] = None, timer: Optional[StageTimer] = None,
                 trt: Optional[TensorRTOptions] = None) -> None:
        self.predictor = Predictor(model_dir, device, run_mode, cpu_threads, enable_mkldnn, 2,
                                   trt)
        cfg = self.predictor.infer_cfg
        source = f'{model_dir}/infer_cfg.yml'
        if ARCH_KINDS.get(cfg.arch) != 'bottomup':
            raise ValueError(f'{source}: arch {cfg.arch!r} is not a bottom-up model; bottom-up: '
                             f'{sorted(k for k, v in ARCH_KINDS.items() if v == "bottomup")}')
        self.codec = build_codec(cfg.codec, f'{source} codec') if cfg.codec else None
        if not isinstance(self.codec, AssociativeEmbeddingCodec):
            raise ValueError(f'{source}: a bottom-up export needs an AssociativeEmbeddingCodec '
                             f'`codec` entry, got {cfg.codec or None!r}')
        if 'num_joints' not in cfg.metadata:
            raise ValueError(f'{source}: no keypoint metadata (`num_joints`, ...)')
        self.meta = KeypointMeta.from_config(cfg.metadata)
        self.preprocess = build_preprocess(cfg.preprocess, self.codec, source)
        if not any(isinstance(op, EvalAffine) for op in self.preprocess.ops):
            raise ValueError(f'{source}: Preprocess has no EvalAffine')
        self.flip_test = cfg.flip_test if flip_test is None else bool(flip_test)
        self.timer = timer or StageTimer()

    def predict(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The people of one image.

        Args:
            image: (H, W, 3) uint8 RGB image; an empty one (no pixels) gives no people and a
                warning.

        Returns:
            keypoints: (P, K, 3) float32 (x, y, joint score) in image pixels.
            scores: (P,) float32 person scores, highest first.

        Raises:
            ValueError: when ``image`` is not (H, W, 3) or the model outputs are not
                (heatmaps, tags) of K joints.
        """
        if is_empty(image):
            logger.warning('empty image (shape %s): no keypoints', getattr(image, 'shape', None))
            return np.zeros((0, self.meta.num_joints, 3), np.float32), np.zeros(0, np.float32)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) RGB image, got shape {image.shape}')
        with self.timer.stage('kpt_pre'):
            record = self.preprocess({'image': image})
            batch = record['image'][None].astype(np.float32)
        with self.timer.stage('kpt_infer'):
            outputs = self._outputs(batch)
        with self.timer.stage('kpt_post'):
            return self.codec.decode_to_image(outputs, input_to_image=record['affine'])

    def _outputs(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        """``heatmaps`` (1, K, h/2, w/2) and ``tags`` (1, K, h/2, w/2, T) of a (1, 3, h, w)
        input; with ``flip_test`` merged with the mirrored input's by the codec (both in one
        predictor call)."""
        name = self.predictor.input_names[0]
        if not self.flip_test:
            return self._checked(self.predictor.run({name: batch}))
        both = self._checked(self.predictor.run({name: np.concatenate([batch,
                                                                       batch[..., ::-1]])}))
        plain = {key: value[:1] for key, value in both.items()}
        mirrored = {key: value[1:] for key, value in both.items()}
        return self.codec.merge_flip(plain, mirrored, self.meta.flip_pairs)

    def _checked(self, outputs: List[np.ndarray]) -> Dict[str, np.ndarray]:
        """The predictor's (heatmaps, tags) as the codec's dict, after checking K."""
        if len(outputs) != 2 or outputs[0].ndim != 4 or outputs[0].shape != outputs[1].shape:
            raise ValueError(f'{self.predictor.model_dir}: expected two outputs (heatmaps, tags) '
                             f'of shape (B, K, H, W), got {[o.shape for o in outputs]}')
        if outputs[0].shape[1] != self.meta.num_joints:
            raise ValueError(f'{self.predictor.model_dir}: the model predicts '
                             f'{outputs[0].shape[1]} joints but infer_cfg.yml says '
                             f'num_joints={self.meta.num_joints}')
        return {'heatmaps': outputs[0], 'tags': outputs[1]}


def person_boxes(keypoints: np.ndarray, scores: np.ndarray, threshold: float
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes of bottom-up people, for tracking and drawing: the extent of each person's
    confident joints (:func:`~deploy.python.det_keypoint_unite_infer.keypoint_box`, unpadded).

    Args:
        keypoints: (P, K, 3) keypoints (x, y, score).
        scores: (P,) person scores.
        threshold: joint score a joint needs to count.

    Returns:
        boxes: (P', 6) float32 rows (class 0, person score, x1, y1, x2, y2) of the P' people
        with a box: at least ``max(2, ceil(K / 2))`` joints at ``threshold`` spanning 1 px or
        more, as the top-down pipeline requires of a person it follows without a detector.
        keep: (P,) bool, which people those are.
    """
    extents = [keypoint_box(person, threshold, 0.0) for person in keypoints]
    keep = np.array([extent is not None for extent in extents], dtype=bool)
    boxes = np.zeros((int(keep.sum()), 6), np.float32)
    boxes[:, 0] = PERSON_CLASS
    boxes[:, 1] = scores[keep]
    if keep.any():
        boxes[:, 2:6] = np.stack([extent for extent in extents if extent is not None])
    return boxes, keep


class BottomUpPipeline(TopDownPipeline):
    """A bottom-up model (+ tracker and smoothing for videos) on one frame at a time.

    Tracking, per-track smoothing, drawing and the JSON are :class:`TopDownPipeline`'s; only
    the estimation differs: one model pass finds every person, and each person's box is the
    extent of its confident joints (:func:`person_boxes`). People with too few joints at
    ``keypoint_threshold`` for a box are dropped (little of them would be drawn, and they would
    start phantom tracks). There is no detector (``detector`` is None).

    Args:
        keypoint_detector: the bottom-up model.
        keypoint_threshold: joint score to count in a box, to draw, to enter OKS tracking and
            (unless the metadata has ``keypoint_score_thresholds``) to update the smoother.
        track: give people stable ids across frames (videos).
        smooth: smooth every tracked person's keypoints (implies ``track``).
        filter_type: ``'OneEuro'`` or ``'EMA'``.
        fps: frame rate for One Euro.
        smoother_params: extra ``KeypointSmoother`` arguments (``min_cutoff``, ``beta``,
            ``d_cutoff``, ``alpha``).
        options: the stability options (``min_joints``, ``pose_nms``, track confirmation and
            merging; default all off). The detector-interval options do not apply.
    """

    def __init__(self, keypoint_detector: BottomUpDetector, keypoint_threshold: float = 0.5,
                 track: bool = False, smooth: bool = False, filter_type: str = 'OneEuro',
                 fps: float = 30.0, smoother_params: Optional[Dict[str, float]] = None,
                 options: Optional[VideoOptions] = None) -> None:
        super().__init__(None, keypoint_detector, keypoint_threshold, track, smooth,
                         filter_type, fps, smoother_params, options)

    def _estimate(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (P, 6), keypoints (P, K, 3), scores (P,)) of the people of one frame."""
        keypoints, scores = self.keypoint_detector.predict(image_rgb)
        boxes, keep = person_boxes(keypoints, scores, self.keypoint_threshold)
        return boxes, keypoints[keep], scores[keep]


def build_parser() -> CompatParser:
    """``keypoint_infer.py``'s CLI plus the smoothing flags; ``--threshold`` is the joint
    score of :class:`BottomUpPipeline` (``--batch_size`` and ``--use_dark`` do not apply)."""
    parser = keypoint_parser()
    parser.description = __doc__
    add_smoothing_flags(parser)
    return parser


def _build_pipeline(args: argparse.Namespace, source: Optional[VideoSource]) -> BottomUpPipeline:
    """The pipeline for a video ``source`` (tracking, smoothing when asked), or for images,
    with the top-down command line's stability defaults (:data:`CLI_VIDEO_DEFAULTS`: people
    with 4 confident joints or more, pose OKS-NMS at 0.5, overlapping tracks merged)."""
    track = source is not None
    detector = BottomUpDetector(args.model_dir, args.device, args.run_mode, args.cpu_threads,
                                args.enable_mkldnn, args.flip_test, trt=trt_options(args))
    return BottomUpPipeline(detector, args.threshold, track=track, smooth=args.smooth and track,
                            filter_type=args.filter_type, fps=source.fps if track else 30.0,
                            smoother_params=smoother_params(args), options=CLI_VIDEO_DEFAULTS)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the CLI on a bottom-up export; returns the JSON document."""
    args = build_parser().parse_args(argv)
    find_model_files(args.model_dir)
    pipeline, document, seconds = run_on_input(
        args, lambda source: _build_pipeline(args, source),
        lambda model, source: run_video(model, source, args.output_dir, args.save_results),
        lambda model, files: run_images(model, files, args.output_dir, args.save_results,
                                        args.save_images))
    add_benchmark(args, document, [pipeline.keypoint_detector.timer, pipeline.timer],
                  len(document['frames']), seconds)
    return document


if __name__ == '__main__':
    run_cli(main)
