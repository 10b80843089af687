"""Pairwise object keypoint similarity (numpy only, so ``deploy/`` can import it).

``oks = mean_k exp(-d_k^2 / (2 * s^2 * (2 sigma_k)^2))`` with ``s^2`` the object scale (an
area in pixels^2). Callers choose the scale and which joints count: the COCO metric's OKS-NMS
(:mod:`ppkpt.metrics.oks`) uses the mean of the two areas and scores strictly above a
threshold, the pose tracker (``deploy/python/tracker.py``) the detection's box area and scores
at or above it. :func:`greedy_oks_nms` is the NMS both the metric and the video pipeline's
pose-level NMS run.

Dimension names: A and B keypoint sets, K joints.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ['pairwise_oks', 'mean_area_oks', 'greedy_oks_nms']

_EPS = np.spacing(1)


def pairwise_oks(kpts_a: np.ndarray, kpts_b: np.ndarray, scales: Union[np.ndarray, float],
                 sigmas: Union[np.ndarray, Sequence[float]],
                 score_threshold: Optional[float] = None,
                 inclusive: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """OKS between every set of ``kpts_a`` and every set of ``kpts_b``.

    Args:
        kpts_a: (A, K, 3) keypoints (x, y, score).
        kpts_b: (B, K, 3) keypoints.
        scales: ``s^2`` of each pair in pixels^2, broadcastable to (A, B) (e.g. (1, B) for a
            scale set by ``kpts_b``).
        sigmas: (K,) per-joint OKS sigmas.
        score_threshold: None averages over all K joints; otherwise the mean runs over the
            joints whose score passes the threshold in *both* sets (an OKS of 0 where none does).
        inclusive: a score passes when ``>= score_threshold`` (True) or ``> score_threshold``.

    Returns:
        oks: (A, B) float64 OKS in [0, 1].
        valid: (A, B) True where at least one joint counts.
    """
    kpts_a, kpts_b = np.asarray(kpts_a), np.asarray(kpts_b)
    sq_dist = ((kpts_a[:, None, :, :2] - kpts_b[None, :, :, :2]) ** 2).sum(axis=-1)
    variances = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    scale = np.broadcast_to(np.asarray(scales, dtype=np.float64), sq_dist.shape[:2])[..., None]
    similarity = np.exp(-sq_dist / variances / scale / 2.0)
    if score_threshold is None:
        used = np.ones(similarity.shape, dtype=bool)
    else:
        passes = np.greater_equal if inclusive else np.greater
        used = (passes(kpts_a[:, None, :, 2], score_threshold)
                & passes(kpts_b[None, :, :, 2], score_threshold))
    counts = used.sum(axis=-1)
    oks = np.where(counts > 0, (similarity * used).sum(axis=-1) / np.maximum(counts, 1), 0.0)
    return oks, counts > 0


def mean_area_oks(kpts: np.ndarray, others: np.ndarray, area: float, other_areas: np.ndarray,
                  sigmas: Union[np.ndarray, Sequence[float]],
                  score_threshold: Optional[float] = None, inclusive: bool = False) -> np.ndarray:
    """OKS of one keypoint set against M others, with ``s^2`` the mean of the two areas.

    Args:
        kpts: (K, 3) keypoints (x, y, score).
        others: (M, K, 3) keypoints.
        area: area of ``kpts``'s instance in pixels^2.
        other_areas: (M,) areas of ``others``.
        sigmas: (K,) per-joint OKS sigmas.
        score_threshold: None averages over all K joints; otherwise over the joints passing it
            in both sets (see :func:`pairwise_oks`).
        inclusive: a score passes when ``>= score_threshold`` (True) or ``> score_threshold``.

    Returns:
        (M,) float64 OKS values.
    """
    scales = (area + np.asarray(other_areas, dtype=np.float64).reshape(1, -1)) / 2.0 + _EPS
    return pairwise_oks(np.asarray(kpts)[None], others, scales, sigmas, score_threshold,
                        inclusive)[0][0]


def greedy_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
                   sigmas: Union[np.ndarray, Sequence[float]], threshold: float,
                   score_threshold: Optional[float] = None, inclusive: bool = False) -> List[int]:
    """Greedy OKS NMS: keep the best-scored instance, drop those whose :func:`mean_area_oks`
    with it is above ``threshold``, repeat with the rest.

    Args:
        keypoints: (M, K, 3) keypoints (x, y, score).
        scores: (M,) instance scores (ties keep the input order).
        areas: (M,) instance areas in pixels^2.
        sigmas: (K,) per-joint OKS sigmas.
        threshold: OKS above which a lower-scored instance is suppressed.
        score_threshold: optional joint score threshold (see :func:`mean_area_oks`).
        inclusive: how ``score_threshold`` compares.

    Returns:
        Indices of the kept instances, best score first.

    Raises:
        ValueError: when ``keypoints`` is not (M, K, 3) with K = ``len(sigmas)``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (len(sigmas), 3):
        raise ValueError(f'OKS-NMS: expected keypoints (M, {len(sigmas)}, 3) for '
                         f'{len(sigmas)} sigmas, got {keypoints.shape}')
    areas = np.asarray(areas, dtype=np.float64)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')
    keep: List[int] = []
    while order.size > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        oks = mean_area_oks(keypoints[best], keypoints[rest], areas[best], areas[rest], sigmas,
                            score_threshold, inclusive)
        order = rest[oks <= threshold]
    return keep
