import json
from pathlib import Path

import numpy as np
import pytest

from ppkpt.data.datasets.coco_box import COCOBoxDataset
from ppkpt.metrics.coco_bbox import BBOX_STAT_NAMES, COCOBoxEval

COCO_DIR = Path(__file__).resolve().parents[1] / 'data' / 'coco'
ANNO = COCO_DIR / 'test_coco.json'


def _gt_outputs(dataset, shift=0.0):
    """One batch per image: its ground-truth boxes as (class 0, score 1) detections."""
    for record in dataset.records:
        boxes = record['gt_bbox'] + shift
        rows = np.concatenate([record['gt_class'].astype(np.float32),
                               np.ones((len(boxes), 1), np.float32), boxes], axis=1)
        yield ({'im_id': np.asarray([record['im_id']])},
               {'bbox': rows, 'bbox_num': np.asarray([len(rows)], np.int32)})


def _evaluate(anno_file, outputs, tmp_path):
    metric = COCOBoxEval(str(anno_file), output_eval=str(tmp_path))
    for inputs, out in outputs:
        metric.update(inputs, out)
    metric.accumulate()
    return metric


def test_ground_truth_as_prediction_scores_one(tmp_path):
    dataset = COCOBoxDataset(str(COCO_DIR), '', 'test_coco.json')
    metric = _evaluate(ANNO, _gt_outputs(dataset), tmp_path)
    stats = metric.get_results()['bbox']
    assert len(stats) == 12
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)
    assert stats[8] == pytest.approx(1.0)
    written = json.loads((tmp_path / 'bbox.json').read_text())
    assert len(written) == 14 and written[0]['category_id'] == 1
    assert written[0]['bbox'] == pytest.approx([280.79, 44.73, 218.7, 346.68], rel=1e-5)


def test_shifted_predictions_score_lower(tmp_path):
    dataset = COCOBoxDataset(str(COCO_DIR), '', 'test_coco.json')
    metric = _evaluate(ANNO, _gt_outputs(dataset, shift=15.0), tmp_path)
    assert 0.0 <= metric.get_results()['bbox'][0] < 0.9


def test_boxes_from_keypoints_when_bbox_missing(tmp_path):
    data = json.loads(ANNO.read_text())
    for ann in data['annotations']:
        del ann['bbox'], ann['area'], ann['iscrowd']
    anno = tmp_path / 'no_bbox.json'
    anno.write_text(json.dumps(data))
    keypoint_boxes = COCOBoxDataset(str(tmp_path), '', 'no_bbox.json')
    assert sum(len(r['gt_bbox']) for r in keypoint_boxes.records) == 12
    metric = _evaluate(anno, _gt_outputs(keypoint_boxes), tmp_path)
    assert metric.get_results()['bbox'][0] == pytest.approx(1.0)
    annotated = COCOBoxDataset(str(COCO_DIR), '', 'test_coco.json')
    assert _evaluate(anno, _gt_outputs(annotated), tmp_path).get_results()['bbox'][0] < 0.9


def test_empty_predictions_and_table(tmp_path):
    metric = COCOBoxEval(str(ANNO), output_eval=str(tmp_path))
    metric.update({'im_id': np.asarray([785, 40083])},
                  {'bbox': np.zeros((0, 6), np.float32), 'bbox_num': np.zeros(2, np.int32)})
    metric.accumulate()
    assert metric.get_results() == {'bbox': [0.0] * 12}
    assert (tmp_path / 'bbox.json').read_text() == '[]'
    lines = metric.table().splitlines()
    assert lines[0].count('|') == 13 and all(name in lines[0] for name in BBOX_STAT_NAMES)
    assert lines[2].startswith('| 0.000 |')


def test_update_rejects_inconsistent_batches(tmp_path):
    metric = COCOBoxEval(str(ANNO), output_eval=str(tmp_path))
    rows = np.asarray([[0, 0.9, 1, 1, 5, 5]], np.float32)
    with pytest.raises(ValueError, match='bbox_num'):
        metric.update({'im_id': np.asarray([785])}, {'bbox': rows, 'bbox_num': np.asarray([2])})
    with pytest.raises(ValueError, match='class index 3'):
        rows[0, 0] = 3
        metric.update({'im_id': np.asarray([785])}, {'bbox': rows, 'bbox_num': np.asarray([1])})
    with pytest.raises(KeyError, match='im_id'):
        metric.update({}, {'bbox': rows, 'bbox_num': np.asarray([1])})
    with pytest.raises(FileNotFoundError, match='missing.json'):
        COCOBoxEval(str(tmp_path / 'missing.json')).coco
