"""Pose-level OKS-NMS: duplicates go, distinct people stay, the dataset's sigmas decide."""
from types import SimpleNamespace

import numpy as np
import pytest

from deploy.python.pipeline import TopDownPipeline, VideoOptions
from deploy.python.tracker import pose_nms
from ppkpt.metadata import KeypointMeta
from ppkpt.metrics.oks import oks_nms
from ppkpt.oks import greedy_oks_nms

SHAPE = np.array([[0.0, -30.0], [-10.0, 0.0], [10.0, 0.0], [-5.0, 30.0], [5.0, 30.0]])
"""A 5-joint pose (K != 17) around its centre, in pixels."""


def _pose(cx: float, cy: float, shift: float = 0.0, score: float = 0.9) -> np.ndarray:
    """(K, 3) pose centred at (cx, cy), every joint moved ``shift`` px right."""
    xy = SHAPE + [cx + shift, cy]
    return np.concatenate([xy, np.full((len(SHAPE), 1), score)], axis=1)


def _box(cx: float, cy: float) -> list:
    return [cx - 20.0, cy - 40.0, cx + 20.0, cy + 40.0]


def test_duplicates_are_removed_and_the_best_kept() -> None:
    keypoints = np.stack([_pose(100, 100), _pose(100, 100, shift=1.5), _pose(101, 100, 0.5)])
    boxes = np.array([_box(100, 100), _box(101, 100), _box(100, 101)])
    keep = pose_nms(boxes, keypoints, np.array([0.6, 0.9, 0.3]), [0.06] * 5, 0.5, 0.5)
    assert keep.tolist() == [False, True, False]


def test_distinct_people_are_kept_even_when_their_boxes_overlap() -> None:
    keypoints = np.stack([_pose(100, 100), _pose(125, 100)])  # boxes overlap (IoU 0.23)
    boxes = np.array([_box(100, 100), _box(125, 100)])
    keep = pose_nms(boxes, keypoints, np.array([0.9, 0.8]), [0.06] * 5, 0.5, 0.5)
    assert keep.tolist() == [True, True]


def test_the_dataset_sigmas_decide_what_a_duplicate_is() -> None:
    """The same two poses, 6 px apart: a duplicate under wide sigmas, two people under tight
    ones (OKS 0.98 against 1e-6 for K = 5 at an 80 x 40 box)."""
    keypoints = np.stack([_pose(100, 100), _pose(100, 100, shift=6.0)])
    boxes = np.array([_box(100, 100), _box(100, 100)])
    scores = np.array([0.9, 0.8])
    assert pose_nms(boxes, keypoints, scores, [0.3] * 5, 0.5, 0.5).tolist() == [True, False]
    assert pose_nms(boxes, keypoints, scores, [0.01] * 5, 0.5, 0.5).tolist() == [True, True]


def test_only_confident_joints_count() -> None:
    """A second pose whose joints are all under the joint threshold shares no joint with the
    first: its OKS is 0 and it is kept (the pipeline's ``min_joints`` handles such people)."""
    keypoints = np.stack([_pose(100, 100), _pose(100, 100, score=0.3)])
    boxes = np.array([_box(100, 100), _box(100, 100)])
    keep = pose_nms(boxes, keypoints, np.array([0.9, 0.8]), [0.06] * 5, 0.5, 0.5)
    assert keep.tolist() == [True, True]


def test_threshold_one_drops_nobody_and_sigma_count_is_checked() -> None:
    keypoints = np.stack([_pose(100, 100)] * 2)
    boxes = np.array([_box(100, 100)] * 2)
    assert pose_nms(boxes, keypoints, np.array([0.9, 0.8]), [0.06] * 5, 1.0, 0.5).all()
    with pytest.raises(ValueError, match=r'6 sigmas, got \(2, 5, 3\)'):
        greedy_oks_nms(keypoints, [0.9, 0.8], [1.0, 1.0], [0.06] * 5 + [0.1], 0.5)
    assert pose_nms(np.zeros((0, 4)), np.zeros((0, 5, 3)), np.zeros(0), [0.06] * 5, 0.5,
                    0.5).shape == (0,)


def test_the_metric_nms_is_the_shared_greedy_nms() -> None:
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(0, 60, (12, 5, 2)), rng.random((12, 5, 1))], axis=2)
    scores, areas = rng.random(12), rng.uniform(500, 3000, 12)
    database = [{'keypoints': k, 'score': s, 'area': a}
                for k, s, a in zip(keypoints, scores, areas)]
    for threshold in (0.2, 0.5, 0.9):
        expected = greedy_oks_nms(keypoints, scores, areas, [0.06] * 5, threshold, 0.3)
        assert oks_nms(database, threshold, [0.06] * 5, in_vis_thre=0.3) == expected
        assert len(expected) < 12 or threshold == 0.9


def _pipeline(sigmas: list, threshold: float) -> TopDownPipeline:
    keypoint_detector = SimpleNamespace(meta=KeypointMeta(5, names=list('abcde'),
                                                          sigmas=sigmas))
    return TopDownPipeline(None, keypoint_detector, 0.5, options=VideoOptions(pose_nms=threshold))


def test_the_pipeline_uses_the_model_sigmas_and_ranks_by_box_times_pose_score() -> None:
    boxes = np.array([[0, 0.9, *_box(100, 100)], [0, 0.5, *_box(100, 100)]])
    keypoints = np.stack([_pose(100, 100, shift=6.0), _pose(100, 100)])
    pose_scores = np.array([0.5, 0.95])  # 0.45 against 0.475: the second person ranks first
    assert _pipeline([0.3] * 5, 0.5)._pose_nms(boxes, keypoints, pose_scores).tolist() == \
        [False, True]
    assert _pipeline([0.01] * 5, 0.5)._pose_nms(boxes, keypoints, pose_scores).all()
    assert _pipeline([0.3] * 5, 1.0)._pose_nms(boxes, keypoints, pose_scores).all()  # off
