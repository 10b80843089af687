import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ppkpt.data.coco import annotation_box_xywh
from ppkpt.data.datasets.coco_box import COCOBoxDataset
from ppkpt.data.transforms.detection import RandomHFlipBox

COCO_DIR = Path(__file__).resolve().parents[2] / 'data' / 'coco'
ANNO = 'test_coco.json'


def _dataset(**kwargs):
    return COCOBoxDataset(dataset_dir=str(COCO_DIR), image_dir='', anno_path=ANNO, **kwargs)


def _copy_fixture(tmp_path, edit):
    """Copy the COCO fixture to ``tmp_path`` and rewrite its json with ``edit(data)``."""
    for image in COCO_DIR.glob('*.jpg'):
        shutil.copy(image, tmp_path / image.name)
    data = json.loads((COCO_DIR / ANNO).read_text())
    edit(data)
    (tmp_path / ANNO).write_text(json.dumps(data))
    return COCOBoxDataset(dataset_dir=str(tmp_path), image_dir='', anno_path=ANNO)


def test_constructor_is_lazy_and_missing_json_is_named():
    dataset = COCOBoxDataset(dataset_dir='/nonexistent', image_dir='img', anno_path='a.json')
    with pytest.raises(FileNotFoundError, match='/nonexistent/a.json'):
        len(dataset)


def test_records_hold_boxes_classes_and_rgb_image():
    dataset = _dataset()
    assert len(dataset) == 4 and dataset.num_classes == 1 and dataset.cat_ids == [1]
    sample = dataset[0]
    assert sample['im_id'] == 785
    assert sample['image'].shape == (425, 640, 3) and sample['image'].dtype == np.uint8
    bgr = cv2.imread(str(COCO_DIR / '000000000785.jpg'))
    np.testing.assert_array_equal(sample['image'], bgr[:, :, ::-1])
    np.testing.assert_allclose(sample['im_shape'], [425, 640])
    np.testing.assert_allclose(sample['gt_bbox'], [[280.79, 44.73, 499.49, 391.41]], rtol=1e-6)
    assert sample['gt_bbox'].dtype == np.float32
    assert sample['gt_class'].shape == (1, 1) and sample['gt_class'].dtype == np.int32
    counts = {dataset[i]['im_id']: len(dataset[i]['gt_bbox']) for i in range(len(dataset))}
    assert counts == {785: 1, 40083: 3, 196141: 5, 197388: 5}


def test_box_falls_back_to_visible_keypoints(tmp_path):
    kpts = [10, 20, 2, 0, 0, 0, 30, 60, 1, 500, 500, 0]
    assert annotation_box_xywh({'keypoints': kpts}) == [10.0, 20.0, 20.0, 40.0]
    assert annotation_box_xywh({'bbox': [1, 2, 3, 4], 'keypoints': kpts}) == [1, 2, 3, 4]
    assert annotation_box_xywh({'bbox': [], 'keypoints': [5, 5, 2]}) is None

    def drop_bbox(data):
        del data['annotations'][0]['bbox']

    ann = json.loads((COCO_DIR / ANNO).read_text())['annotations'][0]
    pts = np.asarray(ann['keypoints'], dtype=np.float32).reshape(-1, 3)
    pts = pts[pts[:, 2] > 0, :2]
    expected = np.concatenate([pts.min(0), pts.max(0)])
    dataset = _copy_fixture(tmp_path, drop_bbox)
    np.testing.assert_allclose(dataset.records[0]['gt_bbox'], [expected], rtol=1e-6)


def test_crowd_and_empty_images(tmp_path):
    def crowd_first_image(data):
        for ann in data['annotations']:
            if ann['image_id'] == 785:
                ann['iscrowd'] = 1

    dataset = _copy_fixture(tmp_path, crowd_first_image)
    assert [r['im_id'] for r in dataset.records] == [40083, 196141, 197388]
    with_empty = COCOBoxDataset(dataset_dir=str(tmp_path), image_dir='', anno_path=ANNO,
                                allow_empty=True)
    assert len(with_empty) == 4
    assert with_empty[0]['gt_bbox'].shape == (0, 4)


def test_unknown_category_is_named(tmp_path):
    def bad_category(data):
        data['annotations'][2]['category_id'] = 99

    with pytest.raises(KeyError, match=r'annotations\[2\].*99'):
        len(_copy_fixture(tmp_path, bad_category))


def test_missing_and_corrupt_images(tmp_path):
    dataset = _copy_fixture(tmp_path, lambda data: None)
    (tmp_path / '000000000785.jpg').unlink()
    (tmp_path / '000000040083.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(FileNotFoundError, match='000000000785.jpg'):
        dataset[0]
    with pytest.raises(ValueError, match='000000040083.jpg'):
        dataset[1]
    tolerant = COCOBoxDataset(dataset_dir=str(tmp_path), image_dir='', anno_path=ANNO,
                              skip_bad_images=True)
    assert len(tolerant) == 3
    assert tolerant[0]['im_id'] == 196141


def test_transforms_apply_in_order():
    dataset = _dataset(transform=[RandomHFlipBox(prob=1.0)])
    np.testing.assert_allclose(dataset[0]['gt_bbox'], [[640 - 499.49, 44.73, 640 - 280.79,
                                                        391.41]], rtol=1e-5)
    dataset.set_transform([RandomHFlipBox(prob=0.0)])
    np.testing.assert_allclose(dataset[0]['gt_bbox'][0, 0], 280.79, rtol=1e-6)
    with pytest.raises(TypeError, match=r'COCOBoxDataset\.transform\[0\]'):
        _dataset(transform=[3])


def test_transform_specs_are_not_built_by_the_dataset():
    dataset = _dataset()
    with pytest.raises(TypeError, match=r'COCOBoxDataset\.transform\[1\] is not callable: '
                                        r"\{'RandomHFlipBox'"):
        dataset.set_transform([RandomHFlipBox(prob=0.0), {'RandomHFlipBox': {'prob': 0.0}}])


def test_a_failing_transform_names_itself_and_the_image():
    class Explodes:
        def __call__(self, record):
            raise ValueError('bad crop')

    dataset = _dataset(transform=[Explodes()])
    with pytest.raises(ValueError, match=r'Explodes failed on .*\.jpg: bad crop'):
        dataset[0]
