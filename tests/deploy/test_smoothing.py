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


def test_default_one_euro_meets_the_video_target_on_demo_motion(tmp_path) -> None:
    """Demo-video motion with 2 px detection noise: the CLI's default One Euro settings cut
    jitter by >= 30% while adding <= 10% to the mean error (the issue-4 target)."""
    import json

    from deploy.python.det_keypoint_unite_infer import build_parser
    from deploy.python.tracker import PoseTracker
    from deploy.python.video_metrics import evaluate_video
    from ppkpt.data.synthetic import generate_video

    generate_video(str(tmp_path), num_frames=60, fps=15, size=(320, 240), seed=0)
    gt = json.loads((tmp_path / 'video' / 'demo_gt.json').read_text())
    defaults = build_parser().parse_args(['--det_model_dir', 'd', '--keypoint_model_dir', 'k'])
    params = {'min_cutoff': defaults.min_cutoff, 'beta': defaults.beta,
              'd_cutoff': defaults.d_cutoff}
    rng = np.random.default_rng(0)
    by_frame = {}
    for ann in gt['annotations']:
        by_frame.setdefault(ann['image_id'], []).append(ann)

    def run(smooth: bool) -> dict:
        factory = (lambda: KeypointSmoother(5, 'OneEuro', 15.0, 0.3, **params)) if smooth else None
        tracker, frames, noise = PoseTracker([0.06] * 5, smoother_factory=factory), [], rng.normal
        for image in gt['images']:
            anns = by_frame.get(image['id'], [])
            kpts = np.asarray([a['keypoints'] for a in anns], float).reshape(-1, 5, 3)
            kpts[..., :2] += noise(0.0, 2.0, kpts[..., :2].shape)
            kpts[..., 2] = 0.9
            boxes = np.asarray([[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                                 a['bbox'][1] + a['bbox'][3]] for a in anns]).reshape(-1, 4)
            ids, out = tracker.update(boxes, kpts)
            frames.append({'frame': image['frame'], 'persons': [
                {'track_id': int(i), 'keypoints': k.tolist()} for i, k in zip(ids, out)]})
        return evaluate_video(gt, {'frames': frames})

    raw = run(False)
    rng = np.random.default_rng(0)  # the same noise for the smoothed run
    smoothed = run(True)
    assert smoothed['jitter_px'] <= 0.7 * raw['jitter_px']
    assert smoothed['mean_error_px'] <= 1.1 * raw['mean_error_px']


@pytest.mark.parametrize('make', [lambda: OneEuroFilter(min_cutoff=1.0, beta=0.05),
                                  lambda: EMAFilter(alpha=0.5)])
def test_masked_entries_pass_through_and_fresh_entries_restart(make) -> None:
    filt = make()
    np.testing.assert_array_equal(filt(np.array([1.0, 2.0]), 0.1, np.array([True, False])),
                                  [1.0, 2.0])  # the first sample passes through
    out = filt(np.array([5.0, 7.0]), 0.1, np.array([False, True]))
    np.testing.assert_array_equal(out, [5.0, 7.0])  # masked out / first seen: pass through
    out = filt(np.array([5.0, 9.0]), 0.1)
    assert 1.0 < out[0] < 5.0 and 7.0 < out[1] < 9.0  # both filtered from their own state
    np.testing.assert_array_equal(filt(np.zeros(3), 0.1), np.zeros(3))  # a new shape restarts


def test_one_euro_rejects_non_positive_dt() -> None:
    with pytest.raises(ValueError, match='dt must be positive'):
        OneEuroFilter()(np.zeros(2), 0.0)
