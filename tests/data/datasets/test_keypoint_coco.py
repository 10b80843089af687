"""KeypointTopDownCocoDataset on the real COCO, OneHand10K and tlpss fixtures."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from ppkpt.data.datasets.keypoint_coco import KeypointTopDownCocoDataset

DATA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_DIR = os.path.join(DATA, 'coco')


def coco(**kwargs):
    args = dict(dataset_dir=COCO_DIR, image_dir='', anno_path='test_coco.json', num_joints=17,
                trainsize=[192, 256])
    args.update(kwargs)
    return KeypointTopDownCocoDataset(**args)


def test_gt_records_follow_the_contract():
    ds = coco()
    # 14 people: 2 have no keypoints.
    assert len(ds) == 12
    sample = ds[0]
    assert sample['image'].shape == (425, 640, 3) and sample['image'].dtype == np.uint8
    assert sample['im_id'] == 785
    assert sample['image_file'].endswith('000000000785.jpg')
    assert sample['gt_joints'].shape == (17, 3) and sample['gt_joints'].dtype == np.float32
    assert sample['joints_vis'].shape == (17, 3)
    assert set(np.unique(sample['joints_vis'][:, :2])) <= {0.0, 1.0}
    assert np.all(sample['joints_vis'][:, 2] == 0) and np.all(sample['gt_joints'][:, 2] == 0)
    assert sample['rotate'] == 0.0 and sample['score'] == 1.0
    # bbox [280.79, 44.73, 218.7, 346.68] clipped: w,h -= 1; padded to 3:4, then x1.25.
    x1, y1, w, h = 280.79, 44.73, 217.7, 345.68
    np.testing.assert_allclose(sample['center'], [x1 + w / 2, y1 + h / 2], rtol=1e-5)
    np.testing.assert_allclose(sample['scale'], [h * 0.75 / 200 * 1.25, h / 200 * 1.25],
                               rtol=1e-5)


def test_image_is_rgb():
    ds = coco()
    bgr = cv2.imread(os.path.join(COCO_DIR, '000000000785.jpg'))
    np.testing.assert_array_equal(ds[0]['image'], bgr[:, :, ::-1])


def test_samples_are_copies():
    ds = coco()
    sample = ds[1]
    sample['gt_joints'] += 100
    sample['center'][:] = 0
    again = ds[1]
    assert again['gt_joints'].max() < 640 and again['center'][0] > 0


def test_transforms_apply_in_order():
    ds = coco()
    ds.set_transform([lambda r: {**r, 'trace': ['a']},
                      lambda r: {**r, 'trace': r['trace'] + ['b']}])
    assert ds[0]['trace'] == ['a', 'b']


def test_detection_boxes_from_bbox_file():
    ds = coco(use_gt_bbox=False, bbox_file='test_coco_det_AP_H_56.json', image_thre=0.5)
    with open(os.path.join(COCO_DIR, 'test_coco_det_AP_H_56.json')) as f:
        dets = [d for d in json.load(f) if d['category_id'] == 1 and d['score'] >= 0.5]
    assert len(ds) == len(dets) > 0
    record = ds.db[0]
    assert record['score'] == pytest.approx(dets[0]['score'])
    assert np.all(record['gt_joints'] == 0) and np.all(record['joints_vis'] == 1)


def test_bbox_file_absolute_path_is_used_as_is():
    path = os.path.join(COCO_DIR, 'test_coco_det_AP_H_56.json')
    ds = coco(use_gt_bbox=False, bbox_file=path, image_thre=0.0)
    assert len(ds) == 118


def test_custom_k_hand():
    ds = KeypointTopDownCocoDataset(os.path.join(DATA, 'onehand10k'), '',
                                    'test_onehand10k.json', 21, [256, 256])
    assert len(ds) == 4
    assert ds[0]['gt_joints'].shape == (21, 3)
    # joint 0 of the first hand is unlabelled (0, 0, 0)
    assert ds[0]['joints_vis'][0, 0] == 0 and ds[0]['joints_vis'][1, 0] == 1


def test_box_from_keypoints_when_bbox_missing():
    ds = KeypointTopDownCocoDataset(os.path.join(DATA, 'tlpss'), '', 'coco_dataset.json', 12,
                                    [64, 64])
    assert len(ds) == 4
    record = ds.db[0]
    vis = record['gt_joints'][:, :2]
    lo, hi = vis.min(axis=0), vis.max(axis=0)
    np.testing.assert_allclose(record['center'], lo + (hi - lo - 1) / 2, rtol=1e-5)
    side = max(hi - lo - 1) / 200 * 1.25
    np.testing.assert_allclose(record['scale'], [side, side], rtol=1e-5)
    assert ds[0]['image'].shape == (64, 64, 3)


def test_constructor_is_lazy_and_first_use_names_the_path(tmp_path):
    ds = coco(dataset_dir=str(tmp_path / 'nowhere'), anno_path='missing.json')
    with pytest.raises(FileNotFoundError, match=r'nowhere/missing\.json'):
        len(ds)


def test_num_joints_mismatch_names_file_and_annotation_id():
    ds = coco(num_joints=5)
    with pytest.raises(ValueError,
                       match=r'test_coco\.json annotation id 442619 has 17 keypoints but '
                             r'num_joints is 5'):
        ds.parse_dataset()


def _copy_coco(tmp_path, images):
    root = tmp_path / 'coco'
    root.mkdir()
    shutil.copy(os.path.join(COCO_DIR, 'test_coco.json'), root)
    for name in images:
        shutil.copy(os.path.join(COCO_DIR, name), root)
    return root


def test_missing_image_is_named(tmp_path):
    root = _copy_coco(tmp_path, ['000000040083.jpg', '000000196141.jpg', '000000197388.jpg'])
    ds = coco(dataset_dir=str(root))
    with pytest.raises(FileNotFoundError,
                       match=r'image not found: .*000000000785\.jpg \(referenced by image id '
                             r'785 in .*test_coco\.json\)'):
        ds.parse_dataset()


def test_corrupt_image_raises_naming_the_file(tmp_path):
    root = _copy_coco(tmp_path, ['000000040083.jpg', '000000196141.jpg', '000000197388.jpg'])
    with open(os.path.join(COCO_DIR, '000000000785.jpg'), 'rb') as f:
        (root / '000000000785.jpg').write_bytes(f.read()[:200])
    ds = coco(dataset_dir=str(root))
    with pytest.raises(ValueError, match=r'000000000785\.jpg'):
        ds[0]


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    root = _copy_coco(tmp_path, ['000000040083.jpg', '000000196141.jpg', '000000197388.jpg'])
    (root / '000000000785.jpg').write_bytes(b'\xff\xd8\xff\xe0 truncated')
    ds = coco(dataset_dir=str(root), skip_bad_images=True)
    sample = ds[0]
    assert sample['im_id'] == 40083
    assert ds.num_skipped == 1


def test_center_scale_jitter_moves_the_center():
    np.random.seed(0)
    ds = coco(center_scale=0.4)
    base = ds.db[0]['center']
    centers = np.stack([ds[0]['center'] for _ in range(20)])
    moved = np.any(centers != base, axis=1)
    assert 0 < moved.sum() < 20
    # shift = 0.4 * (U - 0.5) * [box w, box h] of the clipped box
    assert np.all(np.abs(centers - base) <= 0.2 * np.array([217.7, 345.68]) + 1e-3)
