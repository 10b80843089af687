"""Pairwise object keypoint similarity (numpy only, so ``deploy/`` can import it).

``oks = mean_k exp(-d_k^2 / (2 * s^2 * (2 sigma_k)^2))`` with ``s^2`` the object scale (an
area in pixels^2). Callers choose the scale and which joints count: the COCO metric's OKS-NMS
(:mod:`ppkpt.metrics.oks`) uses the mean of the two areas and scores strictly above a
threshold, the pose tracker (``deploy/python/tracker.py``) the detection's box area and scores
at or above it.

Dimension names: A and B keypoint sets, K joints.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ['pairwise_oks']


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
