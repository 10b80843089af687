"""The top-down video pipeline: a detector finds people, a keypoint model estimates each pose,
and on video the people are tracked, filtered and smoothed.

:class:`TopDownPipeline` does one frame (``process``) and draws it (``draw``); the options of
the video speed-ups and of the weak-detector filters are :class:`VideoOptions` (all off by
default). ``det_keypoint_unite_infer.py`` is its command line; the bottom-up pipeline
(``bottomup_infer.py``) subclasses it. Dimension names: P people, K joints.
"""
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from deploy.python.det_infer import Detector
from deploy.python.io_utils import is_empty
from deploy.python.keypoint_infer import KeypointDetector, usable_boxes
from deploy.python.predictor import StageTimer
from deploy.python.smoothing import FILTER_TYPES, KeypointSmoother
from deploy.python.tracker import PoseTracker, pose_nms
from ppkpt.metadata import DEFAULT_SIGMA, KeypointMeta
from ppkpt.visualize import draw_keypoints

__all__ = ['TopDownPipeline', 'VideoOptions', 'BoxCarrier', 'keypoint_box', 'PERSON_CLASS',
           'FAST_DET_INTERVAL', 'CLI_VIDEO_DEFAULTS']

logger = logging.getLogger('ppkpt.deploy')

PERSON_CLASS = 0
"""The result files PaddleDetection's script writes (there into the working directory)."""
FAST_DET_INTERVAL = 3
"""``--det_interval`` in fast mode."""


@dataclass(frozen=True)
class VideoOptions:
    """Speed and stability options of :class:`TopDownPipeline` on videos; every default is off.

    Attributes:
        det_interval: run the detector on every ``det_interval``-th frame (frames 0, N, 2N, ...
            and any frame after one without tracked people); the frames between re-estimate
            the previous frame's people in boxes carried forward (:class:`BoxCarrier`). 1: the
            detector runs on every frame. Used only with tracking (videos).
        batch_crops: all person crops of a frame go to the keypoint model in one predictor
            call; otherwise ``keypoint_detector.batch_size`` crops per call.
        pose_nms: pose-level OKS-NMS (:func:`~deploy.python.tracker.pose_nms`) over each
            frame's people with the model's sigmas: a person whose OKS with a better-scored one
            is above this is dropped. 1.0: off.
        track_confirm: a track is reported once matched in this many consecutive frames
            (tentative tracks die at their first miss). 1: at once.
        track_merge_frames: two tracks whose people overlap in this many frames become one
            (0: never); overlap is box IoU >= ``track_merge_iou`` or OKS >=
            ``track_merge_oks``.
        track_merge_iou: box IoU at which two people overlap.
        track_merge_oks: OKS at which two people overlap.
        min_joints: a person needs at least ``min(min_joints, K)`` joints at the keypoint
            threshold to be kept (before the NMS and the tracker). 0: everyone is kept.
        carry_pad: padding per side, as a fraction of the extent of a carried person's
            confident joints, of its crop (:func:`keypoint_box`).
    """

    det_interval: int = 1
    batch_crops: bool = False
    pose_nms: float = 1.0
    track_confirm: int = 1
    track_merge_frames: int = 0
    track_merge_iou: float = 0.8
    track_merge_oks: float = 0.7
    min_joints: int = 0
    carry_pad: float = 0.1

    def __post_init__(self) -> None:
        for name, low in (('det_interval', 1), ('track_confirm', 1), ('track_merge_frames', 0),
                          ('min_joints', 0)):
            if getattr(self, name) < low:
                raise ValueError(f'--{name} must be >= {low}, got {getattr(self, name)}')

    @classmethod
    def fast(cls, **changes: Any) -> 'VideoOptions':
        """The fast mode (``--fast``): the detector on every :data:`FAST_DET_INTERVAL`-th frame
        and one keypoint predictor call per frame; ``changes`` override fields."""
        return cls(**{'det_interval': FAST_DET_INTERVAL, 'batch_crops': True, **changes})


CLI_VIDEO_DEFAULTS = VideoOptions(pose_nms=0.5, track_merge_frames=3, min_joints=4)
"""The command line's stability defaults (the API's :class:`VideoOptions` are all off);
``docs/deploy.md`` gives the measurements behind them."""


def _joint_motion(old: np.ndarray, new: np.ndarray, threshold: float) -> Optional[np.ndarray]:
    """(2,) mean displacement from ``old`` to ``new`` (K, 3) of the joints whose score reaches
    ``threshold`` in both, or None when no joint does."""
    both = (old[:, 2] >= threshold) & (new[:, 2] >= threshold)
    if not both.any():
        return None
    return (new[both, :2] - old[both, :2]).mean(axis=0)


def keypoint_box(keypoints: np.ndarray, threshold: float, pad: float) -> Optional[np.ndarray]:
    """The extent of a person's confident joints, padded by ``pad`` times its size per side.

    Args:
        keypoints: (K, 3) keypoints (x, y, score).
        threshold: joint score for a joint to count.
        pad: fraction of the extent's width / height added on each side.

    Returns:
        (4,) box (x1, y1, x2, y2), or None when fewer than ``max(2, ceil(K / 2))`` joints count
        or the padded extent is under 1 px wide or high (too little of the person to trust).
    """
    points = keypoints[keypoints[:, 2] >= threshold, :2]
    if len(points) < max(2, -(-len(keypoints) // 2)):
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    margin = pad * (high - low)
    box = np.concatenate([low - margin, high + margin])
    return box if np.all(box[2:] - box[:2] >= 1.0) else None


class BoxCarrier:
    """The tracked people of the previous frame, carried into frames the detector skips.

    Each person keeps its box, its keypoints before smoothing and its motion: the mean
    displacement of its joints confident in both of its last two frames (0 for a new person).
    Its crop in the next frame is :func:`keypoint_box` of its keypoints moved by that motion
    (the extent of its confident joints, padded by ``pad`` per side), or its box moved by the
    motion when too few joints are confident. After its keypoints are estimated there, its box
    becomes :func:`keypoint_box` of the new keypoints (or the old box moved by the measured
    motion). A person without a joint confident in both frames is lost: it is dropped until a
    detector frame finds it again.

    Args:
        score_threshold: joint score for a joint to be confident.
        pad: :func:`keypoint_box` padding.
    """

    def __init__(self, score_threshold: float, pad: float) -> None:
        self.score_threshold = score_threshold
        self.pad = pad
        self.ids = np.zeros(0, np.int64)
        self.boxes = np.zeros((0, 6), np.float64)
        self.keypoints = np.zeros((0, 0, 3), np.float64)
        self.motion = np.zeros((0, 2), np.float64)

    def __len__(self) -> int:
        return len(self.ids)

    def remember(self, ids: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray) -> None:
        """Replace the people with this frame's.

        Args:
            ids: (P,) track ids.
            boxes: (P, 6) rows (class, score, x1, y1, x2, y2).
            keypoints: (P, K, 3) keypoints before smoothing.
        """
        previous = {int(i): k for i, k in zip(self.ids, self.keypoints)}
        motion = np.zeros((len(ids), 2))
        for row, (track_id, kpts) in enumerate(zip(ids, keypoints)):
            moved = (_joint_motion(previous[int(track_id)], kpts, self.score_threshold)
                     if int(track_id) in previous else None)
            motion[row] = 0.0 if moved is None else moved
        self.ids = np.asarray(ids, np.int64).copy()
        self.boxes = np.asarray(boxes, np.float64).copy()
        self.keypoints = np.asarray(keypoints, np.float64).copy()
        self.motion = motion

    def crops(self) -> np.ndarray:
        """(P, 6) boxes to estimate the people in (class and score of the stored boxes)."""
        crops = self.boxes.copy()
        for row, (kpts, motion) in enumerate(zip(self.keypoints, self.motion)):
            moved = kpts.copy()
            moved[:, :2] += motion
            self._set_box(crops[row], moved, self.boxes[row, 2:6] + np.tile(motion, 2))
        return crops

    def refit(self, rows: np.ndarray, keypoints: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The boxes of the people ``rows`` after their keypoints were estimated.

        Args:
            rows: (R,) indices of the people that were estimated.
            keypoints: (R, K, 3) their new keypoints.

        Returns:
            boxes: (R', 6) float32 boxes of the people found again.
            found: (R,) bool, which of ``rows`` those are.
        """
        boxes, found = [], np.zeros(len(rows), dtype=bool)
        for n, (row, kpts) in enumerate(zip(rows, keypoints)):
            moved = _joint_motion(self.keypoints[row], kpts, self.score_threshold)
            if moved is not None:
                box = self.boxes[row].copy()
                self._set_box(box, kpts, self.boxes[row, 2:6] + np.tile(moved, 2))
                boxes.append(box)
                found[n] = True
        return np.asarray(boxes, np.float32).reshape(-1, 6), found

    def _set_box(self, row: np.ndarray, keypoints: np.ndarray, fallback: np.ndarray) -> None:
        """Write :func:`keypoint_box` of ``keypoints`` (K, 3), or ``fallback`` (4,), into the
        coordinates of the (6,) ``row``."""
        box = keypoint_box(keypoints, self.score_threshold, self.pad)
        row[2:6] = fallback if box is None else box


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
        options: speed and stability options (:class:`VideoOptions`; default all off).

    Attributes:
        timer: ms of the pipeline's own stages: ``track`` (the joint-count filter, pose NMS,
            tracker and smoothing of a frame) and, filled by ``run_video``, ``read`` (decoding
            a frame), ``draw`` and ``write``. The models keep theirs (``detector.timer``,
            ``keypoint_detector.timer``).
    """

    def __init__(self, detector: Detector, keypoint_detector: KeypointDetector,
                 keypoint_threshold: float = 0.5, track: bool = False, smooth: bool = False,
                 filter_type: str = 'OneEuro', fps: float = 30.0,
                 smoother_params: Optional[Dict[str, float]] = None,
                 options: Optional[VideoOptions] = None) -> None:
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
        self.options = options or VideoOptions()
        self.tracker: Optional[PoseTracker] = None
        self.carrier = (BoxCarrier(keypoint_threshold, self.options.carry_pad)
                        if self.track and self.options.det_interval > 1 else None)
        self.frames_seen = 0
        self.timer = StageTimer()

    @property
    def meta(self) -> KeypointMeta:
        """The keypoint model's metadata."""
        return self.keypoint_detector.meta

    def _sigmas(self) -> List[float]:
        """(K,) OKS sigmas: the metadata's, or :data:`DEFAULT_SIGMA` for every joint."""
        return self.meta.sigmas or [DEFAULT_SIGMA] * self.meta.num_joints

    def _tracker(self) -> PoseTracker:
        if self.tracker is None:
            factory = self._smoother if self.smooth else None
            options = self.options
            self.tracker = PoseTracker(self._sigmas(), score_threshold=self.keypoint_threshold,
                                       smoother_factory=factory,
                                       confirm_frames=options.track_confirm,
                                       merge_frames=options.track_merge_frames,
                                       merge_iou=options.track_merge_iou,
                                       merge_oks=options.track_merge_oks)
        return self.tracker

    def _smoother(self) -> KeypointSmoother:
        """A new filter for one track, with the model's per-joint thresholds when it has them."""
        return KeypointSmoother(self.meta.num_joints, self.filter_type, self.fps,
                                self.meta.joint_thresholds(self.keypoint_threshold),
                                **self.smoother_params)

    def process(self, image_rgb: np.ndarray) -> Dict[str, np.ndarray]:
        """Detect (or carry), estimate, filter and (for videos) track the persons of one
        frame.

        Person boxes that :func:`usable_boxes` rejects (not finite, inverted, under 1 px,
        outside the frame) are dropped (debug log). An empty frame (no pixels) runs no model
        and gives no person; the tracker still counts it as a frame. Persons with too few
        confident joints (``options.min_joints``) are dropped, then the pose-level OKS-NMS
        (``options.pose_nms``) runs. With tracking, only the persons of confirmed tracks that
        are not merged-away duplicates are returned.

        Args:
            image_rgb: (H, W, 3) uint8 RGB frame.

        Returns:
            ``boxes`` (P, 6) (class, score, x1, y1, x2, y2), ``keypoints`` (P, K, 3),
            ``scores`` (P,) and ``track_ids`` (P,) (-1 without tracking).
        """
        estimate = self._estimate(image_rgb)
        with self.timer.stage('track'):
            return self._follow(*self._filter(*estimate))

    def _follow(self, boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray
                ) -> Dict[str, np.ndarray]:
        """The result of :meth:`process` for one frame's filtered people (tracked on videos)."""
        if not self.track:
            return {'boxes': boxes, 'keypoints': keypoints, 'scores': scores,
                    'track_ids': np.full(len(boxes), -1, dtype=np.int64)}
        frame = self._tracker().track_frame(boxes[:, 2:6], keypoints)
        if self.carrier is not None:
            kept = ~frame.duplicate
            self.carrier.remember(frame.ids[kept], boxes[kept], keypoints[kept])
        shown = frame.reported
        return {'boxes': boxes[shown], 'keypoints': frame.keypoints[shown],
                'scores': scores[shown], 'track_ids': frame.ids[shown]}

    def _filter(self, boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The (P', 6) boxes, (P', K, 3) keypoints and (P',) scores of the persons with enough
        confident joints that the pose-level NMS keeps."""
        keep = self._enough_joints(keypoints)
        boxes, keypoints, scores = boxes[keep], keypoints[keep], scores[keep]
        keep = self._pose_nms(boxes, keypoints, scores)
        return boxes[keep], keypoints[keep], scores[keep]

    def _enough_joints(self, keypoints: np.ndarray) -> np.ndarray:
        """(P,) bool of the persons with at least ``min(options.min_joints, K)`` joints at
        ``keypoint_threshold``."""
        needed = min(self.options.min_joints, keypoints.shape[1])
        return (keypoints[:, :, 2] >= self.keypoint_threshold).sum(axis=1) >= needed

    def _pose_nms(self, boxes: np.ndarray, keypoints: np.ndarray,
                  scores: np.ndarray) -> np.ndarray:
        """(P,) bool of the persons :func:`pose_nms` keeps, ranked by box score x keypoint
        score; all of them when ``options.pose_nms`` is 1.0 or more."""
        if self.options.pose_nms >= 1.0 or len(boxes) < 2:
            return np.ones(len(boxes), dtype=bool)
        return pose_nms(boxes[:, 2:6], keypoints, boxes[:, 1] * scores, self._sigmas(),
                        self.options.pose_nms, self.keypoint_threshold)

    def _estimate(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (P, 6), keypoints (P, K, 3), scores (P,)) of the usable person boxes, from the
        detector or (between detector frames) carried from the previous frame."""
        index, self.frames_seen = self.frames_seen, self.frames_seen + 1
        if is_empty(image_rgb):
            return (np.zeros((0, 6), np.float32),
                    np.zeros((0, self.meta.num_joints, 3), np.float32), np.zeros(0, np.float32))
        if self.carrier is not None and len(self.carrier) \
                and index % self.options.det_interval != 0:
            return self._carry(image_rgb)
        boxes = self.detector.predict(image_rgb)
        boxes = boxes[boxes[:, 0].astype(np.int64) == PERSON_CLASS]
        boxes = boxes[usable_boxes(boxes[:, 2:6], image_rgb.shape[1], image_rgb.shape[0])]
        keypoints, scores = self._predict_keypoints(image_rgb, boxes)
        return boxes, keypoints, scores

    def _carry(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The previous frame's people re-estimated in their carried boxes (no detector)."""
        crops = self.carrier.crops()
        rows = np.flatnonzero(usable_boxes(crops[:, 2:6], image_rgb.shape[1],
                                           image_rgb.shape[0]))
        keypoints, scores = self._predict_keypoints(image_rgb, crops[rows])
        boxes, found = self.carrier.refit(rows, keypoints)
        return boxes, keypoints[found], scores[found]

    def _predict_keypoints(self, image_rgb: np.ndarray, boxes: np.ndarray
                           ) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints (P, K, 3) and scores (P,) in the (P, 6) usable ``boxes``; with
        ``options.batch_crops`` all P crops go to the predictor in one call."""
        detector = self.keypoint_detector
        if not self.options.batch_crops or len(boxes) <= detector.batch_size:
            return detector.predict(image_rgb, boxes[:, 2:6])
        chunk, detector.batch_size = detector.batch_size, len(boxes)
        try:
            return detector.predict(image_rgb, boxes[:, 2:6])
        finally:
            detector.batch_size = chunk

    def draw(self, image_bgr: np.ndarray, result: Dict[str, np.ndarray]) -> np.ndarray:
        """The frame annotated with ``result``; unchanged when nobody was found."""
        if len(result['boxes']) == 0:
            return image_bgr
        ids = result['track_ids'] if self.track else None
        return draw_keypoints(image_bgr, result['keypoints'], self.meta.skeleton,
                              self.keypoint_threshold, colors=self.meta.colors,
                              track_ids=ids, boxes=result['boxes'][:, 2:6])
