"""One Euro and EMA: less jitter on a noisy constant, little lag on a ramp, masking."""
import numpy as np
import pytest

from deploy.python.smoothing import EMAFilter, KeypointSmoother, OneEuroFilter


def _run(filt, signal: np.ndarray, dt: float = 1 / 30) -> np.ndarray:
    return np.array([filt(np.array([v]), dt)[0] for v in signal])


@pytest.mark.parametrize('make', [lambda: OneEuroFilter(min_cutoff=1.0, beta=0.05),
                                  lambda: EMAFilter(alpha=0.3)])
def test_noisy_constant_jitter_drops(make) -> None:
    noisy = 100.0 + np.random.default_rng(0).normal(0, 2.0, 200)
    smoothed = _run(make(), noisy)
    raw_jitter = np.abs(np.diff(noisy[50:])).mean()
    assert np.abs(np.diff(smoothed[50:])).mean() < 0.5 * raw_jitter
    assert abs(smoothed[50:].mean() - 100.0) < 0.5


@pytest.mark.parametrize('make, max_lag', [(lambda: OneEuroFilter(min_cutoff=1.0, beta=0.05), 4.0),
                                           (lambda: EMAFilter(alpha=0.5), 3.5)])
def test_ramp_lags_little(make, max_lag) -> None:
    ramp = 3.0 * np.arange(100)  # 3 px per frame
    lag = ramp[-20:] - _run(make(), ramp)[-20:]
    assert np.all(lag >= 0) and lag.max() < max_lag


def test_one_euro_is_frame_rate_aware() -> None:
    noisy = 100.0 + np.random.default_rng(1).normal(0, 2.0, 300)
    slow = _run(OneEuroFilter(min_cutoff=1.0, beta=0.0), noisy, dt=1 / 10)
    fast = _run(OneEuroFilter(min_cutoff=1.0, beta=0.0), noisy, dt=1 / 100)
    # the same cutoff in Hz smooths more per frame at a higher frame rate
    assert np.abs(np.diff(fast[50:])).mean() < np.abs(np.diff(slow[50:])).mean()


def test_keypoint_smoother_masks_low_scores_and_checks_k() -> None:
    smoother = KeypointSmoother(num_joints=2, filter_type='EMA', alpha=0.5,
                                score_thresholds=[0.5, 0.9])
    first = smoother(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(first[:, :2], 0.0)
    out = smoother(np.array([[10.0, 10.0, 0.8], [10.0, 10.0, 0.8]]))
    np.testing.assert_allclose(out, [[5.0, 5.0, 0.8], [10.0, 10.0, 0.8]])  # joint 1 below 0.9
    out = smoother(np.array([[10.0, 10.0, 0.8], [20.0, 20.0, 0.95]]))
    np.testing.assert_allclose(out[1, :2], [10.0, 10.0])  # state of joint 1 was untouched
    with pytest.raises(ValueError, match=r'\(2, 3\)'):
        smoother(np.zeros((17, 3)))
    with pytest.raises(ValueError, match='filter_type'):
        KeypointSmoother(2, filter_type='Kalman')
