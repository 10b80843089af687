"""Video metrics on hand-built GT and predictions, and the eval_video CLI."""
import json

import numpy as np
import pytest

from deploy.python.video_metrics import evaluate_video

FRAMES, K = 5, 3


def _gt(track_ids: bool = True) -> dict:
    images, anns = [], []
    for t in range(FRAMES):
        images.append({'id': 100 + t, 'file_name': f'{t}.jpg', 'frame': t})
        for person, x0 in ((0, 10.0), (1, 200.0)):
            kpts = np.array([[x0 + 2 * t + 5 * k, 50.0 + 10 * k, 2] for k in range(K)])
            kpts[2, 2] = 0 if person == 1 else 2  # an invisible joint is ignored
            ann = {'image_id': 100 + t, 'keypoints': kpts.ravel().tolist(),
                   'bbox': [x0, 40.0, 40.0, 100.0]}
            if track_ids:
                ann['track_id'] = person
            anns.append(ann)
    return {'images': images, 'annotations': anns}


def _pred_from(gt: dict, offset=(0.0, 0.0), swap_order: bool = False) -> dict:
    frames = {}
    for ann in gt['annotations']:
        kpts = np.asarray(ann['keypoints'], dtype=float).reshape(K, 3)
        kpts[:, :2] += offset
        kpts[:, 2] = 0.9
        frame = ann['image_id'] - 100
        frames.setdefault(frame, []).append({'track_id': None, 'keypoints': kpts.tolist()})
    if swap_order:
        frames = {t: p[::-1] for t, p in frames.items()}
    return {'frames': [{'frame': t, 'persons': p} for t, p in sorted(frames.items())]}


def test_identical_predictions_score_perfectly() -> None:
    gt = _gt()
    metrics = evaluate_video(gt, _pred_from(gt, swap_order=True))
    assert metrics['mean_error_px'] == 0.0 and metrics['pck'] == 1.0
    assert metrics['jitter_px'] == pytest.approx(0.0, abs=1e-9)  # linear motion
    assert metrics['num_matched'] == 2 * FRAMES and metrics['num_joints_evaluated'] == 5 * FRAMES


def test_known_offset_gives_its_length_as_error_and_pck_threshold() -> None:
    gt = _gt(track_ids=False)
    metrics = evaluate_video(gt, _pred_from(gt, offset=(3.0, 4.0)))
    assert metrics['mean_error_px'] == pytest.approx(5.0)
    assert metrics['jitter_px'] == pytest.approx(0.0, abs=1e-9)
    assert metrics['pck'] == 1.0  # 5 px <= 0.05 * max(40, 100) px: the threshold is inclusive
    assert evaluate_video(gt, _pred_from(gt, offset=(3.0, 4.0)), pck_thr=0.049)['pck'] == 0.0


def test_jitter_measures_acceleration_and_missing_predictions_cost_pck() -> None:
    gt = _gt()
    pred = _pred_from(gt)
    pred['frames'][2]['persons'][0]['keypoints'][0][0] += 4.0  # one joint jumps in frame 2
    pred['frames'][4]['persons'] = []  # nobody predicted in the last frame
    metrics = evaluate_video(gt, pred)
    # frame 4 is unmatched, so triplets exist at t = 1, 2 with 5 joints each; the jumping joint
    # contributes |+4| at t = 1 and |-8| at t = 2
    assert metrics['jitter_px'] == pytest.approx((4 + 8) / (5 * 2))
    assert metrics['pck'] == pytest.approx(5 * 4 / (5 * FRAMES))  # the 4 px jump is a hit
    assert metrics['num_matched'] == 2 * (FRAMES - 1)


def test_prediction_off_the_object_is_not_matched() -> None:
    gt = _gt()
    pred = _pred_from(gt)
    far = pred['frames'][1]['persons'][0]
    far['keypoints'] = (np.asarray(far['keypoints']) + [[101.0, 0.0, 0.0]]).tolist()
    metrics = evaluate_video(gt, pred)  # 101 px > max(40, 100): a miss, not a 101 px error
    assert metrics['num_matched'] == 2 * FRAMES - 1
    assert metrics['mean_error_px'] == 0.0
    near = evaluate_video(gt, _pred_from(gt, offset=(99.0, 0.0)))
    assert near['num_matched'] == 2 * FRAMES and near['mean_error_px'] == pytest.approx(99.0)


def test_gt_without_frame_field_is_rejected() -> None:
    gt = _gt()
    del gt['images'][1]['frame']
    with pytest.raises(KeyError, match='image id 101'):
        evaluate_video(gt, _pred_from(_gt()))


def test_cli(tmp_path) -> None:
    from tools.eval_video import main
    gt = _gt()
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    (tmp_path / 'pred.json').write_text(json.dumps(_pred_from(gt, offset=(0.0, 1.0))))
    metrics = main(['--gt', str(tmp_path / 'gt.json'), '--pred', str(tmp_path / 'pred.json')])
    assert metrics['mean_error_px'] == pytest.approx(1.0)
    with pytest.raises(FileNotFoundError, match='--pred'):
        main(['--gt', str(tmp_path / 'gt.json'), '--pred', str(tmp_path / 'none.json')])
