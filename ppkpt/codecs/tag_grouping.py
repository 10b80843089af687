"""Grouping the peaks of bottom-up heatmaps into people by their associative-embedding tags.

The steps of :meth:`AssociativeEmbeddingCodec.decode`: :func:`top_peaks` (NMS and top-k per
joint), :func:`group_by_tags` (greedy, joint by joint, with scipy's ``linear_sum_assignment``),
:func:`recover_missing` (a person's missing joints from heatmap minus tag distance) and
:func:`quarter_offsets` (refinement). Dimension names: K joints, M peaks per joint, P people,
T tag channels, H x W map rows x columns. numpy and scipy only.
"""
from typing import List, NamedTuple, Sequence, Tuple

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.optimize import linear_sum_assignment

__all__ = ['Candidates', 'top_peaks', 'group_by_tags', 'recover_missing', 'quarter_offsets']

_PAD_COST = 1e-10  # cost of leaving a candidate unmatched: it then starts a new person


class Candidates(NamedTuple):
    """The top-M peaks of every joint."""

    heats: np.ndarray   # (K, M) peak values, highest first
    yx: np.ndarray      # (K, M, 2) int64 map positions (y, x)
    tags: np.ndarray    # (K, M, T) tags at the peaks


def top_peaks(heatmaps: np.ndarray, tags: np.ndarray, count: int, nms_kernel: int
              ) -> Candidates:
    """The ``count`` highest local maxima (``nms_kernel`` square) of every joint's heatmap and
    their tags.

    Args:
        heatmaps: (K, H, W) heatmaps; tags: (K, H, W, T) tag maps.
    """
    num_joints, height, width = heatmaps.shape
    pooled = maximum_filter(heatmaps, size=(1, nms_kernel, nms_kernel),
                            mode='constant', cval=-np.inf)
    peaks = np.where(heatmaps == pooled, heatmaps, 0.0).reshape(num_joints, -1)
    count = min(count, height * width)
    top = np.argpartition(-peaks, count - 1, axis=1)[:, :count]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(peaks, top, axis=1),
                                             axis=1, kind='stable'), axis=1)
    yx = np.stack([top // width, top % width], axis=-1)
    flat_tags = tags.reshape(num_joints, height * width, -1)
    return Candidates(np.take_along_axis(peaks, top, axis=1), yx,
                      np.take_along_axis(flat_tags, top[..., None], axis=1))


def group_by_tags(candidates: Candidates, detection_threshold: float, tag_threshold: float,
                  max_num_people: int) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy joint-by-joint grouping of the candidates into people: a joint's peaks above
    ``detection_threshold`` join the people whose mean tag is nearer than ``tag_threshold``
    (one each, by :func:`scipy.optimize.linear_sum_assignment`), the others start people.

    Returns:
        members: (P, K) int64 candidate index of every person's joint, -1 where missing.
        tag_means: (P, T) mean tag of every person's grouped joints.
    """
    num_joints, _, tag_dim = candidates.tags.shape
    members: List[np.ndarray] = []
    tag_sums: List[np.ndarray] = []
    counts: List[int] = []
    for joint in range(num_joints):
        valid = np.flatnonzero(candidates.heats[joint] > detection_threshold)
        tags = candidates.tags[joint, valid]
        targets = _match(tags, candidates.heats[joint, valid], tag_sums, counts,
                         tag_threshold, max_num_people)
        for candidate, tag, person in zip(valid, tags, targets):
            if person < 0:
                person = len(members)
                members.append(np.full(num_joints, -1, dtype=np.int64))
                tag_sums.append(np.zeros(tag_dim))
                counts.append(0)
            members[person][joint] = candidate
            tag_sums[person] = tag_sums[person] + tag
            counts[person] += 1
    if not members:
        return np.zeros((0, num_joints), np.int64), np.zeros((0, tag_dim))
    return np.stack(members), np.stack(tag_sums) / np.asarray(counts, np.float64)[:, None]


def _match(tags: np.ndarray, heats: np.ndarray, tag_sums: Sequence[np.ndarray],
           counts: Sequence[int], tag_threshold: float, max_num_people: int) -> np.ndarray:
    """(V,) person index each of V candidates joins, -1 to start a new person.

    Args:
        tags: (V, T) candidate tags.
        heats: (V,) candidate peak values.
        tag_sums: per person found so far, the (T,) sum of its joints' tags.
        counts: per person, the number of its joints.
    """
    num_people = min(len(counts), max_num_people)
    if num_people == 0 or len(tags) == 0:
        return np.full(len(tags), -1, dtype=np.int64)
    means = np.stack(tag_sums[:num_people]) / np.asarray(counts[:num_people])[:, None]
    distance = np.linalg.norm(tags[:, None, :] - means[None, :, :], axis=2)
    cost = np.round(distance) * 100.0 - heats[:, None]
    if len(tags) > num_people:
        cost = np.pad(cost, ((0, 0), (0, len(tags) - num_people)), constant_values=_PAD_COST)
    rows, cols = linear_sum_assignment(cost)
    target = np.full(len(tags), -1, dtype=np.int64)
    real = cols < num_people
    accepted = real.copy()
    accepted[real] = distance[rows[real], cols[real]] < tag_threshold
    target[rows[accepted]] = cols[accepted]
    return target


def recover_missing(heatmaps: np.ndarray, tags: np.ndarray, tag_means: np.ndarray,
                    yx: np.ndarray, joint_scores: np.ndarray, found: np.ndarray) -> None:
    """Fill every person's missing joints from ``heatmap - round(tag distance)``, in place.

    A missing joint is taken at the arg-max of that score when the maximum is positive; it
    scores the maximum.

    Args:
        heatmaps: (K, H, W) heatmaps; tags: (K, H, W, T) tag maps.
        tag_means: (P, T) mean tag of every person.
        yx: (P, K, 2) int64 positions (y, x), updated.
        joint_scores: (P, K) joint scores, updated.
        found: (P, K) whether each joint has a position, updated.
    """
    width = heatmaps.shape[2]
    for person, tag_mean in enumerate(tag_means):
        missing = np.flatnonzero(~found[person])
        if len(missing) == 0:
            continue
        distance = np.linalg.norm(tags[missing] - tag_mean, axis=-1)
        score = (heatmaps[missing] - np.round(distance)).reshape(len(missing), -1)
        best = np.argmax(score, axis=1)
        value = score[np.arange(len(missing)), best]
        filled = missing[value > 0]
        best = best[value > 0]
        yx[person, filled] = np.stack([best // width, best % width], axis=-1)
        joint_scores[person, filled] = value[value > 0]
        found[person, filled] = True


def quarter_offsets(heatmaps: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """(P, K, 2) steps of +-0.25 (0 on a tie) toward the higher neighbour along y and x.

    Args:
        heatmaps: (K, H, W) heatmaps.
        yx: (P, K, 2) int64 positions (y, x); neighbours are clipped to the map.
    """
    num_joints, height, width = heatmaps.shape
    joint = np.arange(num_joints)[None, :]
    y, x = yx[..., 0], yx[..., 1]
    step_y = (heatmaps[joint, np.minimum(y + 1, height - 1), x]
              - heatmaps[joint, np.maximum(y - 1, 0), x])
    step_x = (heatmaps[joint, y, np.minimum(x + 1, width - 1)]
              - heatmaps[joint, y, np.maximum(x - 1, 0)])
    return 0.25 * np.sign(np.stack([step_y, step_x], axis=-1))
