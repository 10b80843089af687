"""Object keypoint similarity (OKS) and greedy OKS non-maximum suppression (numpy only)."""
from typing import Any, List, Mapping, Optional, Sequence, Union

import numpy as np

from ppkpt.oks import greedy_oks_nms, mean_area_oks

__all__ = ['compute_oks', 'oks_nms']


def _as_keypoints(value: Any, name: str) -> np.ndarray:
    """(..., K, 3) float64 view of flat (K*3,) or (K, 3) keypoint rows."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim >= 1 and arr.shape[-1] != 3:
        if arr.shape[-1] % 3 != 0:
            raise ValueError(f'{name} must hold (x, y, v) triplets, got shape {arr.shape}')
        arr = arr.reshape(arr.shape[:-1] + (-1, 3))
    return arr


def compute_oks(g: Union[np.ndarray, Sequence[float]], d: Union[np.ndarray, Sequence[float]],
                area_g: float, sigmas: Union[np.ndarray, Sequence[float]],
                in_vis_thre: Optional[float] = None,
                area_d: Optional[Union[np.ndarray, Sequence[float]]] = None) -> np.ndarray:
    """OKS between one keypoint set and M others.

    ``oks = mean_k exp(-d_k^2 / (2 * s^2 * (2 sigma_k)^2))`` with ``s^2`` the mean of the two
    areas. With ``in_vis_thre`` the mean runs over the joints whose score is above the threshold
    in *both* sets (an OKS of 0 when there is none); without it, over all K joints.

    Args:
        g: (K, 3) or (K*3,) reference keypoints (x, y, score).
        d: (M, K, 3), (M, K*3), (K, 3) or (K*3,) keypoints to compare with ``g``.
        area_g: area of the reference instance in pixels^2.
        sigmas: (K,) per-joint OKS sigmas.
        in_vis_thre: optional score threshold for the joints that count.
        area_d: (M,) areas of ``d``; defaults to ``area_g``.

    Returns:
        (M,) float64 OKS values.

    Raises:
        ValueError: when the joint counts of ``g``, ``d`` and ``sigmas`` disagree.
    """
    gk = _as_keypoints(g, 'g')
    dk = _as_keypoints(d, 'd')
    if dk.ndim == 2:
        dk = dk[None]
    sig = np.asarray(sigmas, dtype=np.float64)
    if gk.shape != (len(sig), 3) or dk.shape[1:] != gk.shape:
        raise ValueError(f'OKS shapes disagree: g {gk.shape}, d {dk.shape}, sigmas {sig.shape}')
    areas_d = np.full(len(dk), area_g, dtype=np.float64) if area_d is None \
        else np.asarray(area_d, dtype=np.float64).reshape(-1)
    return mean_area_oks(gk, dk, area_g, areas_d, sig, in_vis_thre, inclusive=False)


def oks_nms(kpts_db: Sequence[Mapping[str, Any]], thresh: float,
            sigmas: Union[np.ndarray, Sequence[float]],
            in_vis_thre: Optional[float] = None) -> List[int]:
    """Greedy NMS: keep the best-scored instance, drop those with OKS above ``thresh``, repeat.

    Args:
        kpts_db: M instances, each a mapping with ``keypoints`` (K, 3) or (K*3,),
            ``score`` float and ``area`` float (pixels^2).
        thresh: OKS above which a lower-scored instance is suppressed.
        sigmas: (K,) per-joint OKS sigmas.
        in_vis_thre: optional joint score threshold passed to :func:`compute_oks`.

    Returns:
        Indices into ``kpts_db`` of the kept instances, best score first.
    """
    if len(kpts_db) == 0:
        return []
    scores = np.array([float(item['score']) for item in kpts_db])
    kpts = np.stack([_as_keypoints(item['keypoints'], f'kpts_db[{i}].keypoints')
                     for i, item in enumerate(kpts_db)])
    areas = np.array([float(item['area']) for item in kpts_db])
    return greedy_oks_nms(kpts, scores, areas, sigmas, thresh, in_vis_thre)
