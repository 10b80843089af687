"""KeyPointTopDownMPIIEval: GT as prediction, a hand-computed shifted prediction, .mat input,
and the labels of the 0.1 / 0.11 means."""
import json
import os

import numpy as np
import pytest
import scipy.io

from ppkpt.data.datasets.keypoint_mpii import KeypointTopDownMPIIDataset
from ppkpt.metrics.mpii_pckh import (MEAN_01_KEY, PCKH_MEAN_KEY, PPDET_01_KEY,
                                     KeyPointTopDownMPIIEval)

MPII_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data',
                        'mpii')
# head box 30 x 40 -> diagonal 50 -> head size 0.6 * 50 = 30 px; radius 15 px at 0.5, 3 px at
# 0.1 and 3.3 px at 0.11.
HEAD_W, HEAD_H = 30.0, 40.0


def entries():
    with open(os.path.join(MPII_DIR, 'test_mpii.json')) as f:
        return json.load(f)


def write_with_headboxes(tmp_path):
    data = entries()
    for i, entry in enumerate(data):
        x, y = 100.0 + i, 50.0 + 2 * i
        entry['headbox'] = [[x, y], [x + HEAD_W, y + HEAD_H]]
    path = tmp_path / 'mpii_val.json'
    path.write_text(json.dumps(data))
    return str(path)


def run_metric(anno_file, tmp_path, shift=None, **kwargs):
    ds = KeypointTopDownMPIIDataset(os.path.dirname(anno_file), MPII_DIR,
                                    os.path.basename(anno_file), 16)
    records = ds.db
    kpts = np.stack([np.concatenate([r['gt_joints'][:, :2], np.ones((16, 1))], axis=1)
                     for r in records])
    if shift is not None:
        kpts[:, :, :2] += shift
    metric = KeyPointTopDownMPIIEval(anno_file, len(ds), 16, str(tmp_path / 'out'), **kwargs)
    metric.reset()
    for start in (0, 3):
        part = slice(start, start + 3)
        metric.update({'im_id': np.array([r['im_id'] for r in records[part]])},
                      {'keypoint': kpts[part], 'score': np.ones(len(kpts[part]))})
    metric.accumulate()
    metric.log()
    return metric.get_results()


def test_gt_as_prediction_is_100(tmp_path):
    results = run_metric(write_with_headboxes(tmp_path), tmp_path)
    assert list(results) == [PCKH_MEAN_KEY, MEAN_01_KEY, PPDET_01_KEY, 'Head', 'Shoulder',
                             'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle']
    assert PCKH_MEAN_KEY == 'PCKh@0.5' and MEAN_01_KEY == 'Mean@0.1'
    assert PPDET_01_KEY == 'PCKh@0.11 (PaddleDetection "PCKh@0.1")'
    for key, value in results.items():
        assert value == pytest.approx(100.0), key
    assert os.path.isfile(tmp_path / 'out' / 'keypoints_results.json')


def shifts():
    """Joints 0-1 move 2 px (hit at 0.1, 0.11 and 0.5), 2-3 move 3.2 px (miss at 0.1, hit at 0.11
    and 0.5), 4-7 exactly 15 px (hit at 0.5 only: the boundary counts), 8-15 move 20 px (miss)."""
    shift = np.zeros((16, 2))
    shift[0:2] = [2.0, 0.0]
    shift[2:4] = [0.0, 3.2]
    shift[4:8] = [9.0, 12.0]
    shift[8:16] = [0.0, 20.0]
    return shift


# Joints 0 and 5 are invisible in 2 of the 5 people, so they count 3 times, others 5.
# Mean weights (pelvis 6 and thorax 7 excluded): 3 + 4 * 5 + 3 + 8 * 5 = 66.
# @0.5: joints 0-5 hit -> 3 + 20 + 3 = 26; @0.1: joints 0-1 -> 3 + 5 = 8;
# @0.11: joints 0-3 -> 3 + 15 = 18.
EXPECTED_MEANS = {PCKH_MEAN_KEY: 100 * 26 / 66, MEAN_01_KEY: 100 * 8 / 66,
                  PPDET_01_KEY: 100 * 18 / 66}


def test_shifted_prediction_matches_hand_computation(tmp_path, capsys):
    results = run_metric(write_with_headboxes(tmp_path), tmp_path, shift=shifts())
    for key, value in EXPECTED_MEANS.items():
        assert results[key] == pytest.approx(value), key
    assert results[MEAN_01_KEY] != pytest.approx(results[PPDET_01_KEY])
    assert results['Ankle'] == pytest.approx(100.0)
    assert results['Hip'] == pytest.approx(100.0)
    assert results['Head'] == pytest.approx(0.0)
    assert results['Wrist'] == pytest.approx(0.0)
    header = capsys.readouterr().out.splitlines()[0]
    for key in EXPECTED_MEANS:
        assert key in header


def test_headboxes_from_mat_file(tmp_path):
    data = entries()
    n = len(data)
    pos = np.stack([np.array(e['joints']) for e in data], axis=2)          # (K, 2, N), 1-based
    missing = np.stack([1 - np.array(e['joints_vis']) for e in data], axis=1)  # (K, N)
    boxes = np.zeros((2, 2, n))
    boxes[1, 0, :], boxes[1, 1, :] = HEAD_W, HEAD_H
    scipy.io.savemat(tmp_path / 'heads.mat',
                     {'pos_gt_src': pos, 'jnt_missing': missing, 'headboxes_src': boxes})
    anno = tmp_path / 'mpii_val.json'
    anno.write_text(json.dumps(data))
    results = run_metric(str(anno), tmp_path, shift=shifts(), headbox_file='heads.mat')
    for key, value in EXPECTED_MEANS.items():
        assert results[key] == pytest.approx(value), key


def test_missing_head_boxes_is_a_clear_error(tmp_path):
    anno = tmp_path / 'mpii_val.json'
    anno.write_text(json.dumps(entries()))
    with pytest.raises(FileNotFoundError, match=r'no head boxes for .*mpii_val\.json'):
        run_metric(str(anno), tmp_path)


def test_prediction_order_is_checked(tmp_path):
    anno = write_with_headboxes(tmp_path)
    metric = KeyPointTopDownMPIIEval(anno, 5, 16, str(tmp_path / 'out'))
    metric.update({'im_id': np.arange(5)}, {'keypoint': np.zeros((5, 16, 3))})
    with pytest.raises(ValueError, match='prediction 0 has im_id 0 but entry 0'):
        metric.accumulate()


def test_save_prediction_only(tmp_path):
    metric = KeyPointTopDownMPIIEval('unused.json', 2, 16, str(tmp_path),
                                     save_prediction_only=True)
    metric.update({'im_id': np.array([1, 2])}, {'keypoint': np.ones((2, 16, 3))})
    metric.accumulate()
    assert metric.get_results() == {}
    with open(tmp_path / 'keypoints_results.json') as f:
        assert [r['image_id'] for r in json.load(f)] == [1, 2]


def test_needs_16_joints():
    with pytest.raises(ValueError, match='num_joints=17'):
        KeyPointTopDownMPIIEval('a.json', 1, 17, 'out')
