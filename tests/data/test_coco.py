"""ppkpt.data.coco on the real COCO and tlpss fixtures, and the paddle-free data modules."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT
from ppkpt.data.coco import (annotation_box_xywh, image_records, load_coco, load_coco_results,
                             load_json, parse_coco)

DATA = os.path.dirname(os.path.abspath(__file__))
COCO_JSON = os.path.join(DATA, 'coco', 'test_coco.json')
TLPSS_JSON = os.path.join(DATA, 'tlpss', 'coco_dataset.json')


@pytest.fixture
def raw():
    """A fresh copy of the decoded COCO fixture."""
    with open(COCO_JSON, encoding='utf-8') as f:
        return json.load(f)


def test_real_fixture_is_indexed_by_image():
    coco = load_coco(COCO_JSON, num_joints=17)
    with open(COCO_JSON, encoding='utf-8') as f:
        data = json.load(f)
    assert coco.source == COCO_JSON and coco.num_joints == 17
    assert list(coco.images) == [img['id'] for img in data['images']] == [785, 40083, 196141,
                                                                          197388]
    assert coco.images[785]['file_name'] == '000000000785.jpg'
    assert {im_id: len(anns) for im_id, anns in coco.annotations.items()} == {
        785: 1, 40083: 3, 196141: 5, 197388: 5}
    assert coco.num_annotations == len(data['annotations']) == 14
    grouped = [ann['id'] for anns in coco.annotations.values() for ann in anns]
    assert grouped == [ann['id'] for ann in data['annotations']]
    assert list(coco.categories) == [1] and coco.categories[1]['name'] == 'person'


def test_any_keypoint_count_without_num_joints():
    assert load_coco(COCO_JSON).num_joints is None
    assert load_coco(TLPSS_JSON).num_annotations == 4


def test_keypoint_count_not_num_joints_names_annotation_id_and_file():
    with pytest.raises(ValueError, match=r'test_coco\.json annotation id 442619 has 17 '
                                         r'keypoints but num_joints is 21 \(file: .*'
                                         r'coco/test_coco\.json\)'):
        load_coco(COCO_JSON, num_joints=21)


def test_keypoint_values_not_triplets_are_named(raw):
    raw['annotations'][1]['keypoints'] = raw['annotations'][1]['keypoints'][:-1]
    with pytest.raises(ValueError, match=r'my\.json annotation id 198196 has 50 keypoint '
                                         r'values, not a multiple of 3'):
        parse_coco(raw, 'my.json', num_joints=17)


def test_annotation_without_id_is_named_by_index(raw):
    del raw['annotations'][3]['id']
    raw['annotations'][3]['keypoints'] = [0, 0, 0]
    with pytest.raises(ValueError, match=r'annotations\[3\] has 1 keypoints but num_joints'):
        parse_coco(raw, 'my.json', num_joints=17)


@pytest.mark.parametrize('image_id', [999, None, 'abc'])
def test_missing_image_id_is_named(raw, image_id):
    raw['annotations'][2]['image_id'] = image_id
    with pytest.raises(KeyError, match=rf'my\.json annotation id 230195 refers to image id '
                                       rf'{image_id!r}, which is not in `images`'):
        parse_coco(raw, 'my.json')


def test_file_without_images_is_named(tmp_path, raw):
    del raw['images']
    path = tmp_path / 'no_images.json'
    path.write_text(json.dumps(raw))
    with pytest.raises(KeyError, match=r'no_images\.json has no `images` list'):
        load_coco(str(path))
    with pytest.raises(KeyError, match=r'list\.json has no `images` list'):
        parse_coco([], 'list.json')


def test_duplicate_image_id_is_named(raw):
    raw['images'][2]['id'] = 785
    with pytest.raises(ValueError, match=r'my\.json images\[2\] repeats id 785'):
        parse_coco(raw, 'my.json')


def test_image_without_file_name_is_named(raw):
    del raw['images'][1]['file_name']
    with pytest.raises(KeyError, match=r'my\.json images\[1\] has no `file_name`'):
        parse_coco(raw, 'my.json')


def test_unknown_category_is_named(raw):
    raw['annotations'][4]['category_id'] = 7
    with pytest.raises(KeyError, match=r'my\.json annotations\[4\] has unknown category_id 7'):
        parse_coco(raw, 'my.json')
    del raw['categories']
    assert parse_coco(raw, 'my.json').categories == {}


def test_json_errors_name_the_owner_and_file(tmp_path):
    missing = str(tmp_path / 'missing.json')
    with pytest.raises(FileNotFoundError, match=r'MyTool: file not found: .*missing\.json'):
        load_json(missing, 'MyTool')
    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [')
    with pytest.raises(ValueError, match=r'MyTool: .*broken\.json is not valid JSON'):
        load_coco(str(broken), owner='MyTool')
    with pytest.raises(ValueError, match=r'MyTool: .*test_coco\.json must be a list of '
                                         r'detections'):
        load_coco_results(COCO_JSON, 'MyTool')


def test_image_records_list_every_instance_of_each_image(raw):
    records = image_records(parse_coco(raw, 'my.json', 17), '/images')
    assert [r['im_id'] for r in records] == [785, 40083, 196141, 197388]
    assert [len(r['instances']) for r in records] == [1, 3, 5, 5]
    first = records[0]
    assert first['image_file'] == os.path.join('/images', '000000000785.jpg')
    assert (first['width'], first['height']) == (640.0, 425.0)
    ann = raw['annotations'][0]
    instance = first['instances'][0]
    assert instance['id'] == 442619 and instance['category_id'] == 1
    assert instance['bbox'] == ann['bbox'] and instance['area'] == ann['area']
    assert instance['iscrowd'] == 0 and instance['score'] == 1.0
    assert instance['keypoints'].shape == (17, 3) and instance['keypoints'].dtype == np.float32
    np.testing.assert_array_equal(instance['keypoints'].ravel(),
                                  np.asarray(ann['keypoints'], dtype=np.float32))


def test_image_records_fill_box_and_area_from_keypoints():
    coco = load_coco(TLPSS_JSON, num_joints=12)
    record = image_records(coco, 'root')[0]
    ann = coco.annotations[record['im_id']][0]
    instance = record['instances'][0]
    assert 'bbox' not in ann and 'area' not in ann
    assert instance['bbox'] == annotation_box_xywh(ann)
    assert instance['area'] == pytest.approx(instance['bbox'][2] * instance['bbox'][3])
    assert record['image_file'] == os.path.join('root', 'images', '0.png')


def test_image_records_keep_crowd_and_keypoint_free_annotations(raw):
    raw['annotations'][0]['iscrowd'] = 1
    del raw['annotations'][1]['keypoints']
    del raw['images'][0]['width']
    records = image_records(parse_coco(raw, 'my.json', 17), '')
    assert records[0]['instances'][0]['iscrowd'] == 1
    assert records[0]['width'] is None and records[0]['height'] == 425.0
    assert records[1]['instances'][0]['keypoints'] is None
    assert records[1]['instances'][0]['bbox'] == raw['annotations'][1]['bbox']


def test_data_modules_import_without_paddle():
    code = ('import sys\n'
            'import ppkpt.data.coco, ppkpt.data.mpii, ppkpt.data.topdown_records\n'
            'import ppkpt.geometry\n'
            "assert 'paddle' not in sys.modules, 'paddle was imported'\n")
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
