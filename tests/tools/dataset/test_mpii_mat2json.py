"""tools/dataset/mpii_mat2json.py on a small .mat laid out like the MPII release."""
import json

import numpy as np
import pytest
import scipy.io

from helpers import run_tool
from ppkpt.data.mpii import parse_mpii_entry

TOOL = 'tools/dataset/mpii_mat2json.py'


def struct_array(records):
    """A MATLAB struct array (1 x N) from dicts with the same keys."""
    keys = list(records[0])
    out = np.zeros((1, len(records)), dtype=[(k, object) for k in keys])
    for i, record in enumerate(records):
        for key in keys:
            out[0, i][key] = record[key]
    return out


def point(joint, x, y):
    return {'id': np.array([[joint]]), 'x': np.array([[x]]), 'y': np.array([[y]]),
            'is_visible': np.array([[1]])}


def rect(points, objpos=(300.0, 200.0), scale=2.5, head=(280.0, 60.0, 330.0, 120.0)):
    record = {'x1': np.array([[head[0]]]), 'y1': np.array([[head[1]]]),
              'x2': np.array([[head[2]]]), 'y2': np.array([[head[3]]]),
              'scale': np.array([[scale]]),
              'objpos': struct_array([{'x': np.array([[objpos[0]]]),
                                       'y': np.array([[objpos[1]]])}]),
              'annopoints': struct_array([{'point': struct_array(points)}]) if points
              else np.zeros((0, 0))}
    return record


@pytest.fixture(scope='module')
def release_mat(tmp_path_factory):
    """Two train images (one with two people, one of them without joints) and a test image."""
    train_a = struct_array([
        rect([point(0, 310.0, 400.0), point(9, 305.0, 70.0), point(12, 280.0, 150.0)]),
        rect([], objpos=(500.0, 210.0))])
    train_b = struct_array([rect([point(15, 90.5, 120.25)], objpos=(100.0, 130.0), scale=1.0,
                                 head=(80.0, 20.0, 120.0, 60.0))])
    test = struct_array([{'scale': np.array([[3.0]]),
                          'objpos': struct_array([{'x': np.array([[50.0]]),
                                                   'y': np.array([[60.0]])}])}])
    annolist = struct_array([
        {'image': struct_array([{'name': np.array(['015601864.jpg'])}]), 'annorect': train_a},
        {'image': struct_array([{'name': np.array(['015599452.jpg'])}]), 'annorect': train_b},
        {'image': struct_array([{'name': np.array(['005808361.jpg'])}]), 'annorect': test}])
    path = str(tmp_path_factory.mktemp('mpii') / 'mpii_human_pose_v1_u12_1.mat')
    scipy.io.savemat(path, {'RELEASE': {'annolist': annolist,
                                        'img_train': np.array([[1, 1, 0]])}})
    return path


def convert(mat, out, *extra):
    result = run_tool([TOOL, mat, str(out), *extra])
    return json.loads(out.read_text()), result.stdout


def test_train_people_get_joints_visibility_and_head_boxes(tmp_path, release_mat):
    entries, stdout = convert(release_mat, tmp_path / 'train.json')
    assert '2 people (train split), 1 rectangles without a usable person skipped' in stdout
    first, second = entries
    assert first['image'] == '015601864.jpg' and first['center'] == [300.0, 200.0]
    assert first['scale'] == 2.5 and first['headbox'] == [280.0, 60.0, 330.0, 120.0]
    expected = [[-1.0, -1.0]] * 16
    expected[0], expected[9], expected[12] = [310.0, 400.0], [305.0, 70.0], [280.0, 150.0]
    assert first['joints'] == expected
    assert first['joints_vis'] == [1 if j in (0, 9, 12) else 0 for j in range(16)]
    assert second['joints'][15] == [90.5, 120.25] and sum(second['joints_vis']) == 1
    person = parse_mpii_entry(first, 0, 16, 'train.json')      # what the MPII dataset reads
    assert person.joints[9].tolist() == [304.0, 69.0]           # 1-based -> 0-based
    assert person.joints_vis.tolist() == first['joints_vis']


def test_test_split_has_centres_and_scales_only(tmp_path, release_mat):
    entries, _ = convert(release_mat, tmp_path / 'test.json', '--split', 'test')
    assert entries == [{'image': '005808361.jpg', 'center': [50.0, 60.0], 'scale': 3.0}]
    everything, _ = convert(release_mat, tmp_path / 'all.json', '--split', 'all')
    assert [e['image'] for e in everything] == ['015601864.jpg', '015599452.jpg',
                                                '005808361.jpg']


def test_a_mat_without_release_is_refused(tmp_path):
    path = str(tmp_path / 'other.mat')
    scipy.io.savemat(path, {'something': np.zeros(3)})
    result = run_tool([TOOL, path, str(tmp_path / 'o.json')], check=False)
    assert result.returncode == 1 and 'has no RELEASE.annolist' in result.stderr
