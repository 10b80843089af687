"""compute_oks and oks_nms against hand-computed values."""
import numpy as np
import pytest

from ppkpt.metrics.oks import compute_oks, oks_nms

SIGMAS = np.array([0.1, 0.2])


def kpts(points, conf=1.0):
    arr = np.asarray(points, dtype=np.float64)
    return np.concatenate([arr, np.full((len(arr), 1), conf)], axis=1)


def test_oks_formula():
    g = kpts([[0, 0], [10, 10]])
    d = kpts([[3, 4], [10, 10]])                 # joint 0 off by 5 px
    area = 100.0
    expected = np.mean([np.exp(-25 / (2 * area * (2 * 0.1) ** 2)), 1.0])
    np.testing.assert_allclose(compute_oks(g, d, area, SIGMAS), [expected])
    np.testing.assert_allclose(compute_oks(g.reshape(-1), d.reshape(1, -1), area, SIGMAS),
                               [expected])


def test_oks_uses_mean_of_both_areas():
    g, d = kpts([[0, 0], [0, 0]]), kpts([[1, 0], [1, 0]])
    one = compute_oks(g, d, 50.0, SIGMAS, area_d=[150.0])
    same = compute_oks(g, d, 100.0, SIGMAS)
    np.testing.assert_allclose(one, same)


def test_visibility_uses_joints_visible_in_both():
    g = np.array([[0, 0, 1.0], [0, 0, 1.0]])
    # joint 1 is far off but invisible in d: only joint 0 counts.
    d = np.array([[0, 0, 1.0], [100, 100, 0.0]])
    assert compute_oks(g, d, 100.0, SIGMAS, in_vis_thre=0.5)[0] == pytest.approx(1.0)
    # joint 1 invisible in g only: still excluded (the reference code looked at d alone).
    g2 = np.array([[0, 0, 1.0], [0, 0, 0.0]])
    d2 = np.array([[0, 0, 1.0], [100, 100, 1.0]])
    assert compute_oks(g2, d2, 100.0, SIGMAS, in_vis_thre=0.5)[0] == pytest.approx(1.0)
    d3 = np.array([[0, 0, 0.0], [0, 0, 0.0]])
    assert compute_oks(g, d3, 100.0, SIGMAS, in_vis_thre=0.5)[0] == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match='OKS shapes disagree'):
        compute_oks(kpts([[0, 0]]), kpts([[0, 0]]), 1.0, SIGMAS)


def test_oks_nms_keeps_best_of_duplicates():
    base = kpts([[10, 10], [30, 30]])
    db = [{'keypoints': base + [0.5, 0, 0], 'score': 0.7, 'area': 400.0},
          {'keypoints': base, 'score': 0.9, 'area': 400.0},
          {'keypoints': base + [200, 200, 0], 'score': 0.8, 'area': 400.0}]
    assert oks_nms(db, 0.9, SIGMAS) == [1, 2]
    assert oks_nms(db, 1.0, SIGMAS) == [1, 2, 0]
    assert oks_nms([], 0.9, SIGMAS) == []
