"""KeyPointBottomUpCOCOEval: the people of whole images through the shared COCOeval path."""
import json
import os

import numpy as np
import pytest

from ppkpt.core.workspace import ConfigError, create, load_config
from ppkpt.data.synthetic import SIGMAS as PLIER_SIGMAS
from ppkpt.data.synthetic import generate_split
from ppkpt.metadata import COCO17_SIGMAS
from ppkpt.metrics.coco_bottomup import KeyPointBottomUpCOCOEval
from ppkpt.metrics.coco_keypoints import KEYPOINT_STAT_NAMES, KeyPointTopDownCOCOEval

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data')
COCO_ANNO = os.path.join(DATA, 'coco', 'test_coco.json')


def people_by_image(anno_file, offset=0.0):
    """{image id: (P, K, 3) ground-truth people with score 1} of the labelled annotations."""
    with open(anno_file) as f:
        data = json.load(f)
    people = {image['id']: [] for image in data['images']}
    for ann in data['annotations']:
        if ann.get('num_keypoints', 1) > 0 and not ann.get('iscrowd', 0):
            kpts = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
            people[ann['image_id']].append(np.column_stack([kpts[:, :2] + offset,
                                                            np.ones(len(kpts))]))
    return {im_id: np.asarray(p).reshape(len(p), -1, 3) for im_id, p in people.items()}


def feed(metric, people, num_joints):
    """One image per update, as the eval loop feeds HigherHRNet's outputs."""
    for im_id, kpts in people.items():
        kpts = kpts.reshape(-1, num_joints, 3)
        metric.update({'im_id': np.array([[im_id]])},
                      {'keypoint': [kpts], 'score': [np.ones(len(kpts))]})


def test_gt_as_prediction_gives_ap_1_for_coco17(tmp_path, capsys):
    people = people_by_image(COCO_ANNO)
    metric = KeyPointBottomUpCOCOEval(COCO_ANNO, len(people), 17, str(tmp_path),
                                      sigmas=COCO17_SIGMAS)
    feed(metric, people, 17)
    metric.accumulate()
    metric.log()
    stats = metric.get_results()['keypoint']
    assert len(stats) == 10
    assert stats[0] == pytest.approx(1.0) and stats[5] == pytest.approx(1.0)
    assert '| ' + ' | '.join(KEYPOINT_STAT_NAMES) + ' |' in capsys.readouterr().out
    saved = json.loads((tmp_path / 'keypoints_results.json').read_text())
    assert len(saved) == sum(len(p) for p in people.values()) == 12
    assert {'image_id', 'category_id', 'keypoints', 'score'} <= set(saved[0])
    assert len(saved[0]['keypoints']) == 51


def test_custom_keypoints_use_the_config_sigmas(tmp_path):
    generate_split(str(tmp_path / 'plier'), 'val', 6, image_size=(96, 96), seed=4)
    anno = str(tmp_path / 'plier' / 'annotations' / 'val.json')
    exact = KeyPointBottomUpCOCOEval(anno, 6, 5, str(tmp_path / 'a'), sigmas=PLIER_SIGMAS)
    feed(exact, people_by_image(anno), 5)
    exact.accumulate()
    assert exact.get_results()['keypoint'][0] == pytest.approx(1.0)
    aps = []
    for scale in (1.0, 3.0):   # wider sigmas forgive the same 2 px error more
        metric = KeyPointBottomUpCOCOEval(anno, 6, 5, str(tmp_path / 'b'),
                                          sigmas=[s * scale for s in PLIER_SIGMAS])
        feed(metric, people_by_image(anno, offset=2.0), 5)
        metric.accumulate()
        aps.append(metric.get_results()['keypoint'][0])
    assert aps[0] < aps[1]


def test_same_statistics_as_the_top_down_metric(tmp_path):
    """Both metrics end in the one COCOeval-with-sigmas path: the same people with the same
    scores give the same 10 statistics."""
    people = people_by_image(COCO_ANNO, offset=6.0)
    bottom_up = KeyPointBottomUpCOCOEval(COCO_ANNO, len(people), 17, str(tmp_path / 'bu'),
                                         sigmas=COCO17_SIGMAS)
    feed(bottom_up, people, 17)
    bottom_up.accumulate()
    instances = [(im_id, person) for im_id, kpts in people.items() for person in kpts]
    top_down = KeyPointTopDownCOCOEval(COCO_ANNO, len(instances), 17, str(tmp_path / 'td'),
                                       sigmas=COCO17_SIGMAS)
    top_down.update({'im_id': np.array([im_id for im_id, _ in instances]),
                     'center': np.zeros((len(instances), 2)),
                     'scale': np.full((len(instances), 2), 0.01),  # no OKS-NMS overlap
                     'score': np.ones(len(instances))},
                    {'keypoint': np.stack([p for _, p in instances])})
    top_down.accumulate()
    stats = bottom_up.get_results()['keypoint']
    assert 0.0 < stats[0] < 0.9
    np.testing.assert_allclose(stats, top_down.get_results()['keypoint'])


def test_images_without_people_and_save_prediction_only(tmp_path):
    metric = KeyPointBottomUpCOCOEval(COCO_ANNO, 2, 17, str(tmp_path), sigmas=COCO17_SIGMAS,
                                      save_prediction_only=True)
    metric.update({'im_id': np.array([785, 40083])},
                  {'keypoint': [np.zeros((0, 17, 3)), np.ones((2, 17, 3))],
                   'score': [np.zeros(0), np.array([0.9, 0.4])]})
    metric.accumulate()
    assert metric.get_results() == {}
    saved = json.loads((tmp_path / 'keypoints_results.json').read_text())
    assert [(r['image_id'], r['score']) for r in saved] == [(40083, 0.9), (40083, 0.4)]


def test_no_people_at_all_scores_zero(tmp_path):
    metric = KeyPointBottomUpCOCOEval(COCO_ANNO, 1, 17, str(tmp_path), sigmas=COCO17_SIGMAS)
    metric.update({'im_id': np.array([785])},
                  {'keypoint': [np.zeros((0, 17, 3))], 'score': [np.zeros(0)]})
    metric.accumulate()
    assert metric.get_results()['keypoint'] == [0.0] * 10


def test_malformed_outputs_are_rejected(tmp_path):
    metric = KeyPointBottomUpCOCOEval(COCO_ANNO, 1, 17, str(tmp_path), sigmas=COCO17_SIGMAS)
    with pytest.raises(ValueError, match='lists of 1 images'):
        metric.update({'im_id': np.array([785])}, {'keypoint': [], 'score': []})
    with pytest.raises(ValueError, match='2 people but 1 scores'):
        metric.update({'im_id': np.array([785])},
                      {'keypoint': [np.zeros((2, 17, 3))], 'score': [np.zeros(1)]})
    with pytest.raises(ValueError, match=r'must be \(N, 17, 3\)'):
        metric.update({'im_id': np.array([785])},
                      {'keypoint': [np.zeros((1, 5, 3))], 'score': [np.zeros(1)]})
    with pytest.raises(RuntimeError, match='update\\(\\) was never called'):
        metric.accumulate()


def test_built_from_a_config_and_paddledetection_spelling(tmp_path):
    cfg = {'num_joints': 17, 'sigmas': list(COCO17_SIGMAS)}
    args = {'anno_file': COCO_ANNO, 'num_samples': 4, 'output_eval': str(tmp_path)}
    metric = create('KeyPointBottomUpCOCOEval', cfg, **args)
    np.testing.assert_array_equal(metric.sigmas, COCO17_SIGMAS)
    alias = create('COCO', {**cfg, 'IouType': 'keypoints'}, **args)
    assert isinstance(alias, KeyPointBottomUpCOCOEval) and alias.iou_type == 'keypoints'
    with pytest.raises(ConfigError, match='COCOBoxEval'):
        create('COCO', {**cfg, 'IouType': 'bbox'}, **args)
    with pytest.raises(ConfigError, match='needs 17 OKS sigmas'):
        create('KeyPointBottomUpCOCOEval', {'num_joints': 17}, **args)


def test_paddledetection_metric_keys_load_from_a_config_file(tmp_path):
    path = tmp_path / 'ppdet_style.yml'
    path.write_text('num_joints: 17\nkeypoint_preset: coco17\nmetric: COCO\nIouType: keypoints\n')
    cfg = load_config(str(path))
    metric = create(cfg['metric'], cfg, anno_file=COCO_ANNO, num_samples=4,
                    output_eval=str(tmp_path))
    assert isinstance(metric, KeyPointBottomUpCOCOEval)
    np.testing.assert_array_equal(metric.sigmas, COCO17_SIGMAS)
