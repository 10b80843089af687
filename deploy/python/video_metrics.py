"""Accuracy and temporal stability of video pose results against per-frame ground truth.

Ground truth is a COCO keypoint file whose images carry a 0-based ``frame`` field; predictions
are the JSON written by ``det_keypoint_unite_infer.py``. Per frame, predictions are matched to
ground-truth persons by the Hungarian algorithm on the mean distance over the GT-visible joints.
A pair whose mean distance exceeds ``max(w, h)`` of the GT box is not a match: a prediction
that lies off the object is a false positive, and the object a miss, never an error sample.

Metrics (over GT joints with visibility > 0):
    * ``mean_error_px``: mean Euclidean distance of matched joints, in pixels.
    * ``pck``: fraction of GT joints predicted within ``pck_thr * max(w, h)`` of the GT box;
      joints of unmatched GT persons count as misses.
    * ``jitter_px``: mean acceleration magnitude ``|p[t+1] - 2 p[t] + p[t-1]|`` of predicted
      joints over three consecutive frames of the same person, which follows the GT
      ``track_id`` when present, else the prediction's ``track_id``. ``gt_jitter_px`` is the same
      on the ground truth, the floor the motion itself sets.

Dimension names: K joints.
"""
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ['evaluate_video', 'load_gt_frames', 'load_pred_frames']

Person = Dict[str, Any]
_UNMATCHABLE = 1e9


def _load_json(path: str) -> Any:
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def load_gt_frames(gt: Any) -> Dict[int, List[Person]]:
    """GT persons per frame from a COCO keypoint dict (or a path to one).

    Returns:
        frame -> list of ``{'keypoints': (K, 3), 'box': (4,) xywh, 'track_id': int | None}``.

    Raises:
        KeyError: naming the image id without a ``frame`` field.
    """
    data = _load_json(gt) if isinstance(gt, str) else gt
    frame_of = {}
    for image in data['images']:
        if 'frame' not in image:
            raise KeyError(f'GT image id {image.get("id")} has no `frame` field')
        frame_of[image['id']] = int(image['frame'])
    frames: Dict[int, List[Person]] = {frame: [] for frame in frame_of.values()}
    for index, ann in enumerate(data.get('annotations', [])):
        if ann['image_id'] not in frame_of:
            raise KeyError(f'GT annotations[{index}] refers to unknown image_id {ann["image_id"]}')
        keypoints = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
        frames[frame_of[ann['image_id']]].append(
            {'keypoints': keypoints, 'box': np.asarray(ann['bbox'], dtype=np.float64),
             'track_id': ann.get('track_id')})
    return frames


def load_pred_frames(pred: Any) -> Dict[int, List[Person]]:
    """Predicted persons per frame from the unite-script JSON (or a path to it).

    Returns:
        frame -> list of ``{'keypoints': (K, 3), 'track_id': int | None}``.
    """
    data = _load_json(pred) if isinstance(pred, str) else pred
    frames: Dict[int, List[Person]] = {}
    for entry in data['frames']:
        frames[int(entry['frame'])] = [
            {'keypoints': np.asarray(p['keypoints'], dtype=np.float64).reshape(-1, 3),
             'track_id': p.get('track_id')} for p in entry['persons']]
    return frames


def _match(gts: List[Person], preds: List[Person]) -> List[Tuple[int, int]]:
    """(gt index, pred index) pairs minimising the mean distance over GT-visible joints, each
    within ``max(w, h)`` of its GT box."""
    if not gts or not preds:
        return []
    cost = np.zeros((len(gts), len(preds)))
    for g, gt in enumerate(gts):
        visible = gt['keypoints'][:, 2] > 0
        for p, pred in enumerate(preds):
            if pred['keypoints'].shape != gt['keypoints'].shape:
                raise ValueError(f'prediction has {len(pred["keypoints"])} joints, GT has '
                                 f'{len(gt["keypoints"])}')
            dist = np.linalg.norm(pred['keypoints'][:, :2] - gt['keypoints'][:, :2], axis=1)
            cost[g, p] = dist[visible].mean() if visible.any() else 0.0
    gate = np.asarray([max(gt['box'][2], gt['box'][3]) for gt in gts])[:, None]
    rows, cols = linear_sum_assignment(np.where(cost <= gate, cost, _UNMATCHABLE))
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if cost[r, c] <= gate[r, 0]]


def _track_key(gt_person: Person, pred_person: Person, index: int) -> Tuple[str, Any]:
    """Identity of a matched person across frames: GT track id, else prediction track id,
    else the GT index within the frame."""
    if gt_person['track_id'] is not None:
        return 'gt', gt_person['track_id']
    if pred_person['track_id'] is not None:
        return 'pred', pred_person['track_id']
    return 'index', index


def _jitter(tracks: Mapping[Any, Dict[int, np.ndarray]]) -> Optional[float]:
    """Mean |p[t+1] - 2p[t] + p[t-1]| over joints valid (non-NaN) in three consecutive frames."""
    values = []
    for sequence in tracks.values():
        for t in sequence:
            if t - 1 in sequence and t + 1 in sequence:
                accel = sequence[t + 1] - 2.0 * sequence[t] + sequence[t - 1]
                norm = np.linalg.norm(accel, axis=1)
                values.extend(norm[~np.isnan(norm)].tolist())
    return float(np.mean(values)) if values else None


def evaluate_video(gt: Any, pred: Any, pck_thr: float = 0.05) -> Dict[str, Any]:
    """Compare video predictions with per-frame ground truth.

    Args:
        gt: COCO keypoint dict or path (images with ``frame``; annotations may carry
            ``track_id``).
        pred: unite-script result dict or path.
        pck_thr: PCK threshold as a fraction of ``max(w, h)`` of the GT box.

    Returns:
        ``mean_error_px``, ``pck``, ``jitter_px``, ``gt_jitter_px`` (None when undefined),
        ``num_frames``, ``num_gt``, ``num_matched``, ``num_pred``, ``num_joints_evaluated``.
    """
    gt_frames, pred_frames = load_gt_frames(gt), load_pred_frames(pred)
    errors, hits, total = [], 0, 0
    pred_tracks: Dict[Any, Dict[int, np.ndarray]] = {}
    gt_tracks: Dict[Any, Dict[int, np.ndarray]] = {}
    matched = 0
    for frame, gts in sorted(gt_frames.items()):
        preds = pred_frames.get(frame, [])
        pairs = dict(_match(gts, preds))
        matched += len(pairs)
        for g, person in enumerate(gts):
            visible = person['keypoints'][:, 2] > 0
            total += int(visible.sum())
            gt_xy = np.where(visible[:, None], person['keypoints'][:, :2], np.nan)
            if g not in pairs:
                continue
            pred_person = preds[pairs[g]]
            dist = np.linalg.norm(pred_person['keypoints'][:, :2] - person['keypoints'][:, :2],
                                  axis=1)[visible]
            errors.extend(dist.tolist())
            hits += int(np.sum(dist <= pck_thr * max(person['box'][2], person['box'][3])))
            key = _track_key(person, pred_person, g)
            pred_xy = np.where(visible[:, None], pred_person['keypoints'][:, :2], np.nan)
            pred_tracks.setdefault(key, {})[frame] = pred_xy
            gt_tracks.setdefault(key, {})[frame] = gt_xy
    return {'mean_error_px': float(np.mean(errors)) if errors else None,
            'pck': hits / total if total else None,
            'jitter_px': _jitter(pred_tracks), 'gt_jitter_px': _jitter(gt_tracks),
            'pck_thr': pck_thr, 'num_frames': len(gt_frames),
            'num_gt': sum(len(v) for v in gt_frames.values()), 'num_matched': matched,
            'num_pred': sum(len(v) for v in pred_frames.values()),
            'num_joints_evaluated': total}
