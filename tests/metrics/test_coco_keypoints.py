"""KeyPointTopDownCOCOEval: GT fed as prediction gives AP 1 for K = 17, 21 and 12."""
import json
import os

import numpy as np
import pytest

from ppkpt.data.datasets.keypoint_coco import KeypointTopDownCocoDataset
from ppkpt.metadata import COCO17_SIGMAS, DEFAULT_SIGMA
from ppkpt.metrics.coco_keypoints import KEYPOINT_STAT_NAMES, KeyPointTopDownCOCOEval

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data')
CASES = {
    'coco17': ('coco', 'test_coco.json', 17, [192, 256]),
    'onehand21': ('onehand10k', 'test_onehand10k.json', 21, [256, 256]),
    'tlpss12': ('tlpss', 'coco_dataset.json', 12, [64, 64]),
}


def dataset(name):
    folder, anno, num_joints, trainsize = CASES[name]
    return KeypointTopDownCocoDataset(os.path.join(DATA, folder), '', anno, num_joints,
                                      trainsize)


def feed_gt(metric, ds, batch_size=5, offset=0.0):
    """Feed the records' ground truth like the eval loop feeds decoded model outputs."""
    records = ds.db
    k = ds.num_joints
    for start in range(0, len(records), batch_size):
        batch = records[start:start + batch_size]
        kpts = np.stack([np.concatenate([r['gt_joints'][:, :2] + offset, np.ones((k, 1))], 1)
                         for r in batch])
        inputs = {'im_id': np.array([[r['im_id']] for r in batch]),
                  'center': np.stack([r['center'] for r in batch]),
                  'scale': np.stack([r['scale'] for r in batch]),
                  'score': np.array([r['score'] for r in batch])}
        metric.update(inputs, {'keypoint': kpts, 'score': np.ones(len(batch))})


@pytest.mark.parametrize('name', list(CASES))
def test_gt_as_prediction_gives_ap_1(name, tmp_path, capsys):
    ds = dataset(name)
    sigmas = COCO17_SIGMAS if ds.num_joints == 17 else [DEFAULT_SIGMA] * ds.num_joints
    metric = KeyPointTopDownCOCOEval(ds.get_anno(), len(ds), ds.num_joints, str(tmp_path),
                                     sigmas=sigmas)
    metric.reset()
    feed_gt(metric, ds)
    metric.accumulate()
    metric.log()
    results = metric.get_results()['keypoint']
    assert len(results) == 10
    assert results[0] == pytest.approx(1.0)          # AP
    assert results[5] == pytest.approx(1.0)          # AR
    table = capsys.readouterr().out
    assert '| ' + ' | '.join(KEYPOINT_STAT_NAMES) + ' |' in table
    with open(tmp_path / 'keypoints_results.json') as f:
        saved = json.load(f)
    assert len(saved) == len(ds)
    assert len(saved[0]['keypoints']) == 3 * ds.num_joints


def test_tlpss_file_is_not_modified(tmp_path):
    ds = dataset('tlpss12')
    with open(ds.get_anno()) as f:
        before = f.read()
    metric = KeyPointTopDownCOCOEval(ds.get_anno(), len(ds), 12, str(tmp_path),
                                     sigmas=[DEFAULT_SIGMA] * 12)
    feed_gt(metric, ds)
    metric.accumulate()
    with open(ds.get_anno()) as f:
        assert f.read() == before
    assert 'area' not in json.loads(before)['annotations'][0]


def test_offset_prediction_lowers_ap(tmp_path):
    ds = dataset('coco17')
    metric = KeyPointTopDownCOCOEval(ds.get_anno(), len(ds), 17, str(tmp_path),
                                     sigmas=COCO17_SIGMAS)
    feed_gt(metric, ds, offset=8.0)
    metric.accumulate()
    ap = metric.get_results()['keypoint'][0]
    assert 0.0 < ap < 0.9


def test_rescoring_and_nms(tmp_path):
    ds = dataset('tlpss12')
    metric = KeyPointTopDownCOCOEval(ds.get_anno(), 2 * len(ds), 12, str(tmp_path),
                                     sigmas=[DEFAULT_SIGMA] * 12,
                                     save_prediction_only=True)
    feed_gt(metric, ds)
    feed_gt(metric, ds, offset=0.1)                  # near-duplicates: OKS > 0.9
    metric.accumulate()
    assert metric.get_results() == {}
    with open(tmp_path / 'keypoints_results.json') as f:
        saved = json.load(f)
    assert len(saved) == len(ds)


def test_rescore_uses_joints_above_threshold(tmp_path):
    metric = KeyPointTopDownCOCOEval('unused.json', 1, 5, str(tmp_path), sigmas=[DEFAULT_SIGMA] * 5)
    kpts = np.zeros((5, 3))
    kpts[:, 2] = [0.9, 0.7, 0.1, 0.1, 0.5]
    assert metric._rescore(kpts, 0.5) == pytest.approx(0.5 * (0.9 + 0.7 + 0.5) / 3)
    kpts[:, 2] = 0.1
    assert metric._rescore(kpts, 0.5) == 0.0


def test_sigmas_are_checked():
    with pytest.raises(ValueError, match='sigmas has 3 values but num_joints is 12'):
        KeyPointTopDownCOCOEval('a.json', 1, 12, 'out', sigmas=[0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match='KeyPointTopDownCOCOEval needs 16 OKS sigmas'):
        KeyPointTopDownCOCOEval('a.json', 1, 16, 'out')


def test_wrong_keypoint_shape(tmp_path):
    metric = KeyPointTopDownCOCOEval('a.json', 1, 17, str(tmp_path), sigmas=COCO17_SIGMAS)
    with pytest.raises(ValueError, match=r'must be \(N, 17, 3\)'):
        metric.update({'im_id': [1], 'center': [[0, 0]], 'scale': [[1, 1]], 'score': [1]},
                      {'keypoint': np.zeros((1, 12, 3))})
