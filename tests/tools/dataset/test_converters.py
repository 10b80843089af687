"""The annotation converters: labelme, CVAT for images 1.1 and RetinaFace label.txt."""
import glob
import json
import os
import shutil

import pytest

from helpers import ROOT, run_tool
from ppkpt.data.coco import load_coco

PLIER = ['left_handle', 'right_handle', 'hinge', 'left_jaw', 'right_jaw']
LABELME_DIR = os.path.join(ROOT, 'tests/data/plier/labelme')
CVAT_XML = os.path.join(ROOT, 'tests/data/cvat/annotations.xml')
RETINAFACE_TXT = os.path.join(ROOT, 'tests/data/retinaface/label.txt')


def convert(tool, source, out, *extra):
    run_tool([f'tools/dataset/{tool}', source, str(out), *extra])
    with open(out, encoding='utf-8') as f:
        return json.load(f)


def keypoint_rows(ann):
    return [ann['keypoints'][3 * i:3 * i + 3] for i in range(len(ann['keypoints']) // 3)]


# --------------------------------------------------------------------------- labelme


def test_labelme_points_and_rectangles_become_keypoints_and_boxes(tmp_path):
    coco = convert('labelme2coco.py', LABELME_DIR, tmp_path / 'plier.json', '--keypoints',
                   *PLIER, '--category', 'plier', '--skeleton', '0-2', '1-2', '2-3', '2-4')
    files = sorted(glob.glob(os.path.join(LABELME_DIR, '*.json')))
    assert [im['file_name'] for im in coco['images']] == \
        [os.path.basename(f)[:-5] + '.jpg' for f in files]
    assert coco['categories'] == [{'id': 1, 'name': 'plier', 'supercategory': 'plier',
                                   'keypoints': PLIER,
                                   'skeleton': [[1, 3], [2, 3], [3, 4], [3, 5]]}]
    anns = iter(coco['annotations'])
    for image, path in zip(coco['images'], files):
        with open(path, encoding='utf-8') as f:
            shapes = json.load(f)['shapes']
        groups = {}
        for shape in shapes:
            groups.setdefault(shape['group_id'], []).append(shape)
        for group in groups.values():
            ann = next(anns)
            assert ann['image_id'] == image['id']
            rows = keypoint_rows(ann)
            for shape in group:
                if shape['shape_type'] == 'point':
                    assert rows[PLIER.index(shape['label'])] == [*shape['points'][0], 2]
                else:
                    (x1, y1), (x2, y2) = shape['points']
                    assert ann['bbox'] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
                    assert ann['area'] == pytest.approx((x2 - x1) * (y2 - y1))
            labelled = {s['label'] for s in group if s['shape_type'] == 'point'}
            assert ann['num_keypoints'] == len(labelled)
            assert all(rows[PLIER.index(n)] == [0, 0, 0] for n in set(PLIER) - labelled)
    assert next(anns, None) is None and len(coco['annotations']) == 29


def test_labelme_occluded_flag_and_box_from_points(tmp_path):
    source = tmp_path / 'one'
    source.mkdir()
    shutil.copy(os.path.join(LABELME_DIR, '000001.jpg'), source / '000001.jpg')
    shapes = [{'label': 'hinge', 'points': [[10, 20]], 'group_id': None, 'shape_type': 'point',
               'flags': {'occluded': True}},
              {'label': 'left_jaw', 'points': [[30, 50]], 'group_id': None,
               'shape_type': 'point', 'flags': {}},
              {'label': 'cable', 'points': [[0, 0], [5, 5], [9, 0]], 'group_id': None,
               'shape_type': 'polygon', 'flags': {}}]
    (source / '000001.json').write_text(json.dumps({'shapes': shapes, 'imagePath': '000001.jpg',
                                                    'imageWidth': 160, 'imageHeight': 120}))
    out = tmp_path / 'out.json'
    result = run_tool(['tools/dataset/labelme2coco.py', str(source), str(out), '--keypoints',
                       *PLIER])
    assert '1 shapes that are neither points nor rectangles skipped' in result.stdout
    ann, = json.loads(out.read_text())['annotations']
    assert keypoint_rows(ann)[2:4] == [[10, 20, 1], [30, 50, 2]]
    assert ann['bbox'] == [10, 20, 20, 30] and ann['area'] == 600


def test_labelme_unknown_label_names_the_file_and_label(tmp_path):
    source = tmp_path / 'typo'
    source.mkdir()
    shapes = [{'label': 'hinje', 'points': [[1, 2]], 'group_id': None, 'shape_type': 'point'}]
    (source / 'a.json').write_text(json.dumps({'shapes': shapes, 'imagePath': 'a.jpg'}))
    result = run_tool(['tools/dataset/labelme2coco.py', str(source), str(tmp_path / 'o.json'),
                       '--keypoints', *PLIER], check=False)
    assert result.returncode == 1
    assert "a.json shapes[0] (label 'hinje'): label is not one of --keypoints" in result.stderr


# --------------------------------------------------------------------------- CVAT


def test_cvat_skeletons_and_grouped_points(tmp_path):
    coco = convert('cvat2coco.py', CVAT_XML, tmp_path / 'cvat.json', '--keypoints', *PLIER,
                   '--category', 'plier')
    assert [(im['file_name'], im['width'], im['height']) for im in coco['images']] == \
        [('plier_a.jpg', 160, 120), ('sub/plier_b.jpg', 160, 120), ('plier_c.jpg', 160, 120)]
    rows = [keypoint_rows(a) for a in coco['annotations']]
    assert [a['image_id'] for a in coco['annotations']] == [1, 1, 2, 2, 3]
    # skeleton 1: right_handle occluded -> v 1, right_jaw outside -> missing; its box by group
    assert rows[0] == [[25, 15, 2], [35.5, 12.25, 1], [50, 40, 2], [70, 60, 2], [0, 0, 0]]
    assert coco['annotations'][0]['bbox'] == [20, 10, 60, 60]
    # skeleton 2: no box, so the extent of its points
    assert rows[1] == [[100, 20, 2], [0, 0, 0], [120, 50, 2], [0, 0, 0], [140, 90, 2]]
    assert coco['annotations'][1]['bbox'] == [100, 20, 40, 70]
    # points grouped by group_id 7 and 8 (the second with its box)
    assert rows[2] == [[40, 30, 2], [0, 0, 0], [60, 60, 2], [0, 0, 0], [0, 0, 0]]
    assert rows[3] == [[0, 0, 0], [0, 0, 0], [110, 65, 1], [0, 0, 0], [0, 0, 0]]
    assert coco['annotations'][3]['bbox'] == [100, 50, 30, 40]
    # points and a box without group_id form one object
    assert rows[4] == [[0, 0, 0]] * 3 + [[10, 100, 2], [30, 110, 2]]
    assert coco['annotations'][4]['bbox'] == [5, 80, 55, 35]
    assert [a['num_keypoints'] for a in coco['annotations']] == [4, 3, 2, 1, 2]


def test_cvat_unknown_label_is_an_error(tmp_path):
    result = run_tool(['tools/dataset/cvat2coco.py', CVAT_XML, str(tmp_path / 'o.json'),
                       '--keypoints', 'left_handle', 'right_handle', 'pivot', 'left_jaw',
                       'right_jaw'], check=False)
    assert result.returncode == 1
    assert "image 'plier_a.jpg': point label 'hinge' is not one of --keypoints" in result.stderr


# --------------------------------------------------------------------------- RetinaFace


def test_retinaface_boxes_landmarks_and_flags(tmp_path):
    out = tmp_path / 'faces.json'
    coco = convert('retinaface2coco.py', RETINAFACE_TXT, out)
    assert [im['file_name'] for im in coco['images']] == [
        '0--Parade/0_Parade_sample_1.jpg', '0--Parade/0_Parade_sample_2.jpg',
        '1--Handshaking/1_Handshaking_sample_3.jpg']
    assert 'width' not in coco['images'][0]
    assert (coco['images'][1]['width'], coco['images'][1]['height']) == (640, 480)
    assert coco['categories'][0]['keypoints'] == ['left_eye', 'right_eye', 'nose', 'left_mouth',
                                                  'right_mouth']
    first, second, tiny, no_landmarks = coco['annotations']
    assert first['bbox'] == [120, 80, 60, 72] and first['area'] == 60 * 72
    assert keypoint_rows(first) == [[135.5, 105.25, 2], [160, 104, 2], [148, 120.5, 2],
                                    [138, 135, 2], [158.5, 134, 2]]
    assert keypoint_rows(second)[1] == [370, 238, 1]          # flag 1: occluded
    assert keypoint_rows(tiny) == [[0, 0, 0]] * 5 and tiny['num_keypoints'] == 0   # -1: missing
    assert tiny['bbox'] == [40, 50, 8, 9]
    assert no_landmarks['image_id'] == 3 and no_landmarks['num_keypoints'] == 0
    assert load_coco(str(out), num_joints=5).num_annotations == 4


def test_retinaface_cut_landmark_list_names_the_line(tmp_path):
    bad = tmp_path / 'label.txt'
    bad.write_text('# a.jpg\n1 2 3 4 5 6 0.0 7\n')
    result = run_tool(['tools/dataset/retinaface2coco.py', str(bad), str(tmp_path / 'o.json')],
                      check=False)
    assert result.returncode == 1 and 'label.txt line 2: 4 numbers after the box' in result.stderr
