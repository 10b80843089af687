"""The writer half of ppkpt.data.coco that the dataset tools share."""
import json

import pytest

from ppkpt.data.coco import keypoint_annotation, keypoint_category, load_coco, save_coco


def test_keypoint_annotation_zeroes_unlabelled_points_and_derives_the_box():
    ann = keypoint_annotation(7, 3, 1, [[10, 20, 2], [99, 99, 0], [30, 60, 1]])
    assert ann == {'id': 7, 'image_id': 3, 'category_id': 1, 'iscrowd': 0,
                   'keypoints': [10, 20, 2, 0, 0, 0, 30, 60, 1], 'num_keypoints': 2,
                   'bbox': [10, 20, 20, 40], 'area': 800}
    boxed = keypoint_annotation(8, 3, 1, [[10, 20, 2]], bbox=[0, 0, 50, 40])
    assert boxed['bbox'] == [0, 0, 50, 40] and boxed['area'] == 2000
    single = keypoint_annotation(9, 3, 1, [[10, 20, 2], [0, 0, 0]])
    assert 'bbox' not in single and 'area' not in single    # one point spans no box


def test_keypoint_category_writes_a_one_based_skeleton():
    assert keypoint_category('plier', ['a', 'b', 'c'], [[0, 2], [1, 2]]) == {
        'id': 1, 'name': 'plier', 'supercategory': 'plier', 'keypoints': ['a', 'b', 'c'],
        'skeleton': [[1, 3], [2, 3]]}


def test_save_coco_writes_only_what_parses(tmp_path):
    data = {'images': [{'id': 1, 'file_name': 'a.jpg'}],
            'annotations': [keypoint_annotation(1, 1, 1, [[1, 2, 2], [5, 9, 2]])],
            'categories': [keypoint_category('x', ['p', 'q'])]}
    path = tmp_path / 'sub' / 'ok.json'
    assert save_coco(data, str(path), num_joints=2).num_annotations == 1
    assert json.loads(path.read_text()) == data
    assert load_coco(str(path), num_joints=2).images[1]['file_name'] == 'a.jpg'
    bad = dict(data, annotations=[dict(data['annotations'][0], image_id=5)])
    with pytest.raises(KeyError, match='refers to image id 5'):
        save_coco(bad, str(tmp_path / 'bad.json'))
    assert not (tmp_path / 'bad.json').exists()
