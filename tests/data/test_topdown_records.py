"""Top-down expansion of per-image COCO records, and ppkpt.geometry.clip_box_xywh."""
import collections
import math
import os

import numpy as np
import pytest

from ppkpt.data.coco import CocoImageRecord, CocoInstance, image_records, load_coco
from ppkpt.data.topdown_records import (DetectedBox, TopDownExpansion, topdown_joints,
                                        topdown_record)
from ppkpt.geometry import clip_box_xywh

DATA = os.path.dirname(os.path.abspath(__file__))
COCO_JSON = os.path.join(DATA, 'coco', 'test_coco.json')
EXPANSION = TopDownExpansion(num_joints=17, aspect_ratio=192 / 256, pixel_std=200.0)

# (im_id, center, scale) of the 12 records the dataset produced before the per-image split.
RECORDS_BEFORE = [
    (785, ['389.64', '217.57'], ['1.620375', '2.1605']),
    (40083, ['124.935', '197.805'], ['1.0856875', '1.4475833']),
    (40083, ['327.285', '215.665'], ['0.8690625', '1.15875']),
    (196141, ['332.095', '224.12'], ['1.4052187', '1.873625']),
    (196141, ['579.23', '155.865'], ['0.5252344', '0.7003125']),
    (196141, ['541.885', '311.745'], ['1.1014374', '1.4685833']),
    (196141, ['50.825', '115.13'], ['0.4456875', '0.59425']),
    (197388, ['250.105', '222.535'], ['1.3836875', '1.8449167']),
    (197388, ['324.11', '143.825'], ['0.77160937', '1.0288125']),
    (197388, ['589.52', '159.99'], ['1.0423125', '1.38975']),
    (197388, ['505.395', '278.935'], ['1.6601875', '2.2135832']),
    (197388, ['45.05', '153.285'], ['1.0269843', '1.3693125']),
]


def coco_images():
    return image_records(load_coco(COCO_JSON, num_joints=17), '/coco')


def labelled(instance: CocoInstance) -> bool:
    return instance['keypoints'] is not None and bool(np.any(instance['keypoints'] > 0))


def test_one_record_per_instance_with_keypoints():
    images = coco_images()
    entries = EXPANSION.ground_truth(images)
    per_image = collections.Counter(entry.record['im_id'] for entry in entries)
    expected = {image['im_id']: sum(labelled(inst) for inst in image['instances'])
                for image in images}
    assert dict(per_image) == expected == {785: 1, 40083: 2, 196141: 4, 197388: 5}


def test_expanded_records_equal_the_records_before_the_split():
    entries = EXPANSION.ground_truth(coco_images())
    instances = [inst for image in coco_images() for inst in image['instances']
                 if labelled(inst)]
    assert len(entries) == len(RECORDS_BEFORE) == len(instances)
    for entry, instance, (im_id, center, scale) in zip(entries, instances, RECORDS_BEFORE):
        record = entry.record
        assert set(record) == {'image_file', 'im_id', 'center', 'scale', 'rotate', 'score',
                               'gt_joints', 'joints_vis'}
        assert record['im_id'] == im_id and record['image_file'].startswith('/coco/')
        assert record['rotate'] == 0.0 and record['score'] == 1.0
        np.testing.assert_array_equal(record['center'], np.array(center, dtype=np.float32))
        np.testing.assert_array_equal(record['scale'], np.array(scale, dtype=np.float32))
        assert record['center'].dtype == record['scale'].dtype == np.float32
        kpts = instance['keypoints']
        np.testing.assert_array_equal(record['gt_joints'][:, :2], kpts[:, :2])
        np.testing.assert_array_equal(record['joints_vis'][:, 0], np.minimum(kpts[:, 2], 1))
        np.testing.assert_array_equal(record['joints_vis'][:, 1], record['joints_vis'][:, 0])
        assert not record['gt_joints'][:, 2].any() and not record['joints_vis'][:, 2].any()
    # the box size kept for jitter is the clipped box: w - 1, h - 1
    assert entries[0].box_wh == pytest.approx((217.7, 345.68))


def _image(instance: CocoInstance, width=100.0, height=80.0) -> CocoImageRecord:
    return CocoImageRecord(image_file='a.jpg', im_id=3, width=width, height=height,
                           instances=[instance])


def _instance(**changes) -> CocoInstance:
    keypoints = np.zeros((17, 3), dtype=np.float32)
    keypoints[0] = [20, 30, 2]
    instance = CocoInstance(id=5, category_id=1, bbox=[10.0, 10.0, 40.0, 60.0],
                            keypoints=keypoints, area=2400.0, iscrowd=0, score=1.0)
    instance.update(changes)
    return instance


@pytest.mark.parametrize('changes', [
    {'iscrowd': 1}, {'keypoints': None}, {'keypoints': np.zeros((17, 3), np.float32)},
    {'bbox': None}, {'area': 0.0}, {'bbox': [200.0, 10.0, 40.0, 60.0]}])
def test_unusable_instances_are_skipped(changes):
    instance = _instance(**changes)
    assert EXPANSION.instance_entry(_image(instance), instance) is None


def test_unknown_image_size_does_not_clip():
    instance = _instance(bbox=[90.0, 10.0, 40.0, 60.0])
    clipped = EXPANSION.instance_entry(_image(instance), instance)
    unclipped = EXPANSION.instance_entry(_image(instance, width=None, height=None), instance)
    assert clipped.box_wh == pytest.approx((9.0, 59.0))
    assert unclipped.box_wh == pytest.approx((39.0, 59.0))


def test_keypoints_of_another_k_are_refused():
    instance = _instance(keypoints=np.ones((5, 3), np.float32))
    with pytest.raises(ValueError, match=r'a\.jpg: instance 5 has keypoints of shape '
                                         r'\(5, 3\), expected \(17, 3\)'):
        EXPANSION.instance_entry(_image(instance), instance)


def test_detections_keep_their_box_and_score():
    boxes = [DetectedBox('b.jpg', 7, [10.0, 20.0, 30.0, 40.0], 0.9),
             DetectedBox('a.jpg', 2, [0.0, 0.0, 300.0, 40.0], 0.5)]
    entries = EXPANSION.detections(boxes)
    assert [(e.record['im_id'], e.record['score'], e.box_wh) for e in entries] == [
        (7, 0.9, (30.0, 40.0)), (2, 0.5, (300.0, 40.0))]
    record = entries[0].record
    np.testing.assert_allclose(record['center'], [25, 40])
    np.testing.assert_allclose(record['scale'], [40 * 0.75 / 200 * 1.25, 40 / 200 * 1.25])
    assert not record['gt_joints'].any() and record['joints_vis'].shape == (17, 3)
    assert record['joints_vis'].all()


def test_topdown_joints_and_record():
    gt_joints, joints_vis = topdown_joints(np.array([[1, 2], [3, 4]], np.float32),
                                           np.array([2, 0], np.float32))
    np.testing.assert_array_equal(gt_joints, [[1, 2, 0], [3, 4, 0]])
    np.testing.assert_array_equal(joints_vis, [[1, 1, 0], [0, 0, 0]])
    assert gt_joints.dtype == joints_vis.dtype == np.float32
    record = topdown_record('x.jpg', 1, np.zeros(2), np.ones(2), 0.3, gt_joints, joints_vis)
    assert record['rotate'] == 0.0 and record['score'] == 0.3


def test_clip_box_xywh():
    # the right/bottom edge is the last pixel inside the box
    assert clip_box_xywh([10, 20, 30, 40], 640, 480) == [10.0, 20.0, 29.0, 39.0]
    assert clip_box_xywh([-5, -5, 30, 40], 20, 30) == [0.0, 0.0, 19.0, 29.0]
    assert clip_box_xywh([10, 20, 30, 40], math.inf, math.inf) == [10.0, 20.0, 29.0, 39.0]
    assert clip_box_xywh([10, 20, 0.5, 0.5], 640, 480) == [10.0, 20.0, 0.0, 0.0]
    assert clip_box_xywh([700, 20, 30, 40], 640, 480) is None
    # a box partly left of the image keeps only its inside part, and one fully left is gone
    assert clip_box_xywh([-20, 10, 40, 50], 640, 480) == [0.0, 10.0, 19.0, 49.0]
    assert clip_box_xywh([-100, 10, 60, 50], 640, 480) is None
    with pytest.raises(ValueError, match='x, y, w, h'):
        clip_box_xywh([1, 2, 3], 640, 480)
