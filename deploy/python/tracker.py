"""Multi-person pose tracking by optimal assignment of IoU and OKS costs.

Every frame, tracks are moved by their last velocity, a cost between each track and each
detection is built from ``1 - IoU`` of the boxes and ``1 - OKS`` of the keypoints, and
``scipy.optimize.linear_sum_assignment`` solves it. Pairs costlier than ``max_cost`` are
rejected (gating). Unmatched tracks survive ``max_age`` missed frames; unmatched detections
start new tracks. Each track owns its own keypoint smoother.

Two options keep a weak detector's duplicates and spurious boxes out of the results (both off
by default):

* confirmation (``confirm_frames`` M > 1): a new track is *tentative* until it has been matched
  in M consecutive frames (its first frame counts); a tentative track is dropped at its first
  miss, and its detections are not reported;
* merging (``merge_frames`` F > 0): two tracks whose detections overlap (box IoU or OKS at or
  above ``merge_iou`` / ``merge_oks``) in F frames in which both were matched, with no frame
  in which both were matched apart, become one: the track with more matched frames (then the
  lower id) keeps its id, the other is dropped, and its detection of this frame is reported
  as a duplicate.

:func:`pose_nms` is the per-frame pose-level OKS-NMS the video pipelines run before tracking.

Dimension names: M detections, T tracks, K joints, P persons.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from deploy.python.smoothing import KeypointSmoother
from ppkpt.oks import greedy_oks_nms, pairwise_oks

__all__ = ['PoseTracker', 'Track', 'TrackedFrame', 'box_iou', 'keypoint_oks', 'pose_nms']

_INVALID = 1e6


@dataclass
class Track:
    """One tracked person.

    Attributes:
        track_id: stable id.
        box: (4,) last box (x1, y1, x2, y2).
        keypoints: (K, 3) last (smoothed) keypoints.
        velocity: (2,) box-centre motion in pixels per frame.
        misses: frames since the last match.
        smoother: per-track filter, or None without smoothing.
        hits: frames in which the track was matched (its first frame counts).
        confirmed: matched in enough consecutive frames to be reported.
    """

    track_id: int
    box: np.ndarray
    keypoints: np.ndarray
    velocity: np.ndarray
    misses: int = 0
    smoother: Optional[KeypointSmoother] = None
    hits: int = 1
    confirmed: bool = True

    def predicted(self) -> Tuple[np.ndarray, np.ndarray]:
        """Box (4,) and keypoints (K, 3) moved to the current frame at constant velocity."""
        shift = self.velocity * (self.misses + 1)
        keypoints = self.keypoints.copy()
        keypoints[:, :2] += shift
        return self.box + np.tile(shift, 2), keypoints


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU.

    Args:
        boxes_a: (A, 4) boxes (x1, y1, x2, y2).
        boxes_b: (B, 4) boxes.

    Returns:
        (A, B) IoU in [0, 1].
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def keypoint_oks(kpts_a: np.ndarray, kpts_b: np.ndarray, areas_b: np.ndarray,
                 sigmas: np.ndarray, score_threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """Pairwise object keypoint similarity over joints confident in both poses.

    Args:
        kpts_a: (A, K, 3) keypoints (x, y, score).
        kpts_b: (B, K, 3) keypoints; their box areas set the scale.
        areas_b: (B,) areas in square pixels.
        sigmas: (K,) per-joint OKS sigmas.
        score_threshold: a joint counts when its score reaches this in both poses.

    Returns:
        oks: (A, B) OKS in [0, 1] (0 where no joint counts).
        valid: (A, B) True where at least one joint counts.
    """
    scales = np.maximum(np.asarray(areas_b, dtype=np.float64), 1.0)[None, :]
    return pairwise_oks(kpts_a, kpts_b, scales, sigmas, score_threshold, inclusive=True)


def pose_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
             sigmas: Sequence[float], threshold: float, score_threshold: float) -> np.ndarray:
    """Pose-level OKS-NMS over the persons of one frame.

    Greedy by ``scores``: the best person is kept and every other person whose OKS with it is
    above ``threshold`` is dropped, then the next kept one, and so on. The OKS scale is the
    mean of the two box areas (as in the COCO keypoint evaluation's NMS) and the mean runs over
    the joints whose score reaches ``score_threshold`` in both poses; two poses without such a
    joint have an OKS of 0 and are both kept.

    Args:
        boxes: (P, 4) boxes (x1, y1, x2, y2) in pixels.
        keypoints: (P, K, 3) keypoints (x, y, score).
        scores: (P,) person scores that rank them.
        sigmas: (K,) OKS sigmas of the dataset.
        threshold: OKS above which the lower-ranked person is dropped (1.0 drops nobody).
        score_threshold: joint score for a joint to count.

    Returns:
        (P,) bool, True for the persons kept.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = np.zeros(len(boxes), dtype=bool)
    keep[greedy_oks_nms(keypoints, scores, areas, sigmas, threshold, score_threshold,
                        inclusive=True)] = True
    return keep


class TrackedFrame(NamedTuple):
    """What :meth:`PoseTracker.track_frame` gives for the M detections of one frame.

    Attributes:
        ids: (M,) int64 track id of each detection (a duplicate gets the id it merged into).
        keypoints: (M, K, 3) float32 keypoints after the per-track smoothing.
        reported: (M,) bool: the track is confirmed and the detection is no duplicate.
        duplicate: (M,) bool: the detection's track was merged into another one this frame.
    """

    ids: np.ndarray
    keypoints: np.ndarray
    reported: np.ndarray
    duplicate: np.ndarray


class PoseTracker:
    """Assign stable ids to per-frame person detections and smooth each person.

    Args:
        sigmas: (K,) OKS sigmas from the keypoint metadata.
        iou_weight: weight of ``1 - IoU`` in the cost.
        oks_weight: weight of ``1 - OKS`` (used only where the two poses share a confident
            joint; otherwise the cost is ``1 - IoU`` alone).
        max_cost: gating threshold; pairs with a higher cost never match.
        max_age: frames a track may go unmatched before it is dropped.
        score_threshold: joint score needed for a joint to enter the OKS.
        smoother_factory: builds one :class:`KeypointSmoother` per new track; None disables
            smoothing.
        confirm_frames: consecutive matched frames before a track is reported (1: at once).
        merge_frames: overlapping frames after which two tracks merge (0: never).
        merge_iou: box IoU at which two detections overlap.
        merge_oks: OKS (mean of the two box areas as the scale, joints confident in both) at
            which two detections overlap.
    """

    def __init__(self, sigmas: Sequence[float], iou_weight: float = 0.5, oks_weight: float = 0.5,
                 max_cost: float = 0.8, max_age: int = 5, score_threshold: float = 0.3,
                 smoother_factory: Optional[Callable[[], KeypointSmoother]] = None,
                 confirm_frames: int = 1, merge_frames: int = 0, merge_iou: float = 0.8,
                 merge_oks: float = 0.7) -> None:
        if iou_weight < 0 or oks_weight < 0 or iou_weight + oks_weight <= 0:
            raise ValueError(f'iou_weight and oks_weight must be >= 0 with a positive sum, got '
                             f'{iou_weight}, {oks_weight}')
        if max_age < 0:
            raise ValueError(f'max_age must be >= 0, got {max_age}')
        if confirm_frames < 1 or merge_frames < 0:
            raise ValueError(f'confirm_frames must be >= 1 and merge_frames >= 0, got '
                             f'{confirm_frames}, {merge_frames}')
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.iou_weight = iou_weight
        self.oks_weight = oks_weight
        self.max_cost = max_cost
        self.max_age = max_age
        self.score_threshold = score_threshold
        self.smoother_factory = smoother_factory
        self.confirm_frames = confirm_frames
        self.merge_frames = merge_frames
        self.merge_iou = merge_iou
        self.merge_oks = merge_oks
        self.tracks: List[Track] = []
        self._next_id = 0
        self._overlap_frames: Dict[Tuple[int, int], int] = {}

    def _cost(self, boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """(T, M) matching cost between the predicted tracks and the detections."""
        predicted = [track.predicted() for track in self.tracks]
        track_boxes = np.stack([p[0] for p in predicted])
        track_kpts = np.stack([p[1] for p in predicted])
        iou_cost = 1.0 - box_iou(track_boxes, boxes)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        oks, valid = keypoint_oks(track_kpts, keypoints, areas, self.sigmas, self.score_threshold)
        mixed = ((self.iou_weight * iou_cost + self.oks_weight * (1.0 - oks))
                 / (self.iou_weight + self.oks_weight))
        fallback = iou_cost if self.iou_weight > 0 else np.ones_like(iou_cost)
        return np.where(valid, mixed, fallback)

    def _match(self, boxes: np.ndarray, keypoints: np.ndarray) -> List[Tuple[int, int]]:
        """(track index, detection index) pairs within the gate."""
        if not self.tracks or len(boxes) == 0:
            return []
        cost = self._cost(boxes, keypoints)
        gated = np.where(cost <= self.max_cost, cost, _INVALID)
        rows, cols = linear_sum_assignment(gated)
        return [(r, c) for r, c in zip(rows, cols) if gated[r, c] < _INVALID]

    def _update_track(self, track: Track, box: np.ndarray, keypoints: np.ndarray) -> None:
        elapsed = track.misses + 1
        old_center = 0.5 * (track.box[:2] + track.box[2:])
        new_center = 0.5 * (box[:2] + box[2:])
        track.velocity = (new_center - old_center) / elapsed
        track.box = box
        track.keypoints = (keypoints if track.smoother is None
                           else track.smoother(keypoints, frames_elapsed=elapsed))
        track.misses = 0
        track.hits += 1
        track.confirmed = track.confirmed or track.hits >= self.confirm_frames

    def _new_track(self, box: np.ndarray, keypoints: np.ndarray) -> Track:
        smoother = None if self.smoother_factory is None else self.smoother_factory()
        if smoother is not None:
            keypoints = smoother(keypoints)
        track = Track(self._next_id, box, keypoints, np.zeros(2), 0, smoother,
                      confirmed=self.confirm_frames <= 1)
        self._next_id += 1
        self.tracks.append(track)
        return track

    def _alive(self, track: Track) -> bool:
        """Whether an unmatched track is kept: confirmed ones for ``max_age`` misses, tentative
        ones not at all."""
        return track.misses == 0 or (track.confirmed and track.misses <= self.max_age)

    def _overlaps(self, boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """(M, M) bool: detections whose boxes or poses overlap enough to merge their tracks."""
        areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)
        scales = (areas[:, None] + areas[None, :]) / 2.0
        oks, valid = pairwise_oks(keypoints, keypoints, scales, self.sigmas,
                                  self.score_threshold, inclusive=True)
        return (box_iou(boxes, boxes) >= self.merge_iou) | (valid & (oks >= self.merge_oks))

    def _count_overlaps(self, assigned: List[Track], boxes: np.ndarray,
                        keypoints: np.ndarray) -> List[Tuple[int, int]]:
        """Update the overlapping-frame count of every pair of tracks matched this frame,
        forget the pairs with a track that is gone, and return the (lower id, higher id) pairs
        that overlap in this frame."""
        alive = {track.track_id for track in self.tracks}
        self._overlap_frames = {pair: n for pair, n in self._overlap_frames.items()
                                if pair[0] in alive and pair[1] in alive}
        overlaps = self._overlaps(boxes, keypoints)
        overlapping = []
        for a in range(len(assigned)):
            for b in range(a + 1, len(assigned)):
                ids = (assigned[a].track_id, assigned[b].track_id)
                pair = (min(ids), max(ids))
                if overlaps[a, b]:
                    self._overlap_frames[pair] = self._overlap_frames.get(pair, 0) + 1
                    overlapping.append(pair)
                else:
                    self._overlap_frames.pop(pair, None)
        return overlapping

    def _merge(self, assigned: List[Track], boxes: np.ndarray,
               keypoints: np.ndarray) -> np.ndarray:
        """Merge the pairs that overlapped in ``merge_frames`` frames; returns the (M,) bool
        duplicate mask and points the duplicates' entries of ``assigned`` at the survivors."""
        duplicate = np.zeros(len(assigned), dtype=bool)
        if self.merge_frames == 0:
            return duplicate
        overlapping = self._count_overlaps(assigned, boxes, keypoints)
        index_of = {track.track_id: i for i, track in enumerate(assigned)}
        ready = sorted((pair for pair in overlapping
                        if self._overlap_frames[pair] >= self.merge_frames),
                       key=lambda pair: -self._overlap_frames[pair])
        for pair in ready:
            if duplicate[index_of[pair[0]]] or duplicate[index_of[pair[1]]]:
                continue  # one of them already merged into a third track this frame
            keep, drop = sorted((assigned[index_of[i]] for i in pair),
                                key=lambda t: (-t.hits, t.track_id))
            duplicate[index_of[drop.track_id]] = True
            assigned[index_of[drop.track_id]] = keep
            self.tracks = [t for t in self.tracks if t is not drop]
        return duplicate

    def _checked(self, boxes: np.ndarray, keypoints: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray]:
        """(M, 4) boxes and (M, K, 3) keypoints as float64; a shape mismatch is an error."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float64)
        expected = (len(boxes), len(self.sigmas), 3)
        if keypoints.size == 0 and not len(boxes):
            return boxes, np.zeros(expected)
        if keypoints.shape != expected:
            raise ValueError(f'PoseTracker: expected keypoints of shape {expected} (one per box, '
                             f'K = {len(self.sigmas)} from the sigmas), got {keypoints.shape}')
        return boxes, keypoints

    def track_frame(self, boxes: np.ndarray, keypoints: np.ndarray) -> TrackedFrame:
        """Track one frame: match, update, start new tracks, then merge overlapping tracks.

        Args:
            boxes: (M, 4) boxes (x1, y1, x2, y2) in pixels; M may be 0.
            keypoints: (M, K, 3) keypoints (x, y, score).

        Returns:
            The :class:`TrackedFrame` of the M detections.
        """
        boxes, keypoints = self._checked(boxes, keypoints)
        matches = self._match(boxes, keypoints)
        assigned: List[Optional[Track]] = [None] * len(boxes)
        for track_index, det_index in matches:
            track = self.tracks[track_index]
            self._update_track(track, boxes[det_index], keypoints[det_index])
            assigned[det_index] = track
        matched_tracks = {id(self.tracks[t]) for t, _ in matches}
        for track in self.tracks:
            if id(track) not in matched_tracks:
                track.misses += 1
        self.tracks = [t for t in self.tracks if self._alive(t)]
        for det_index, track in enumerate(assigned):
            if track is None:
                assigned[det_index] = self._new_track(boxes[det_index], keypoints[det_index])
        duplicate = self._merge(assigned, boxes, keypoints)
        ids = np.asarray([t.track_id for t in assigned], dtype=np.int64)
        smoothed = np.asarray([t.keypoints for t in assigned], dtype=np.float32)
        confirmed = np.asarray([t.confirmed for t in assigned], dtype=bool)
        return TrackedFrame(ids, smoothed.reshape(len(boxes), len(self.sigmas), 3),
                            confirmed & ~duplicate, duplicate)

    def update(self, boxes: np.ndarray, keypoints: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Track one frame (:meth:`track_frame` without the report masks).

        Args:
            boxes: (M, 4) boxes (x1, y1, x2, y2) in pixels; M may be 0.
            keypoints: (M, K, 3) keypoints (x, y, score).

        Returns:
            track_ids: (M,) int64 id of each detection.
            keypoints: (M, K, 3) float32 keypoints after the per-track smoothing.
        """
        frame = self.track_frame(boxes, keypoints)
        return frame.ids, frame.keypoints
