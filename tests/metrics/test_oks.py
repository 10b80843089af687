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


def test_pairwise_oks_threshold_comparison_and_scale():
    from ppkpt.oks import pairwise_oks
    a = np.array([[[0, 0, 0.5], [0, 0, 1.0]]])
    b = np.array([[[3, 4, 1.0], [0, 0, 0.5]], [[0, 0, 0.2], [0, 0, 0.2]]])
    near = np.exp(-25 / (2 * 100.0 * (2 * 0.1) ** 2))
    oks, valid = pairwise_oks(a, b, [[100.0, 100.0]], SIGMAS, 0.5, inclusive=True)
    np.testing.assert_allclose(oks, [[np.mean([near, 1.0]), 0.0]])  # score 0.5 counts
    assert valid.tolist() == [[True, False]]
    oks, valid = pairwise_oks(a, b, 100.0, SIGMAS, 0.5, inclusive=False)
    np.testing.assert_allclose(oks, [[0.0, 0.0]])  # score 0.5 does not count
    assert not valid.any()
    oks, valid = pairwise_oks(a, b, [[100.0, 100.0]], SIGMAS)  # no threshold: every joint
    np.testing.assert_allclose(oks, [[np.mean([near, 1.0]), 1.0]])
    assert valid.all()


def test_compute_oks_is_a_row_of_pairwise_oks():
    from ppkpt.oks import pairwise_oks
    rng = np.random.default_rng(0)
    g = np.concatenate([rng.uniform(0, 50, (2, 2)), rng.random((2, 1))], axis=1)
    d = np.concatenate([rng.uniform(0, 50, (5, 2, 2)), rng.random((5, 2, 1))], axis=2)
    areas = rng.uniform(10, 500, 5)
    for thre in (None, 0.4):
        expected = pairwise_oks(g[None], d, (80.0 + areas[None]) / 2.0 + np.spacing(1), SIGMAS,
                                thre, inclusive=False)[0][0]
        np.testing.assert_array_equal(compute_oks(g, d, 80.0, SIGMAS, thre, areas), expected)
