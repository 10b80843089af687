"""tools/dataset/check_dataset.py: each defect planted in a copy of a fixture is caught, the
clean fixture passes."""
import importlib.util
import json
import os
import shutil
import sys

import pytest

from helpers import PLIER_CONFIG, ROOT, run_tool

COCO_DIR = os.path.join(ROOT, 'tests/data/coco')
COCO_CONFIG = os.path.join(ROOT, 'configs/keypoint/hrnet/hrnet_w32_256x192.yml')
PLIER_LABELME = os.path.join(ROOT, 'tests/data/plier/labelme')
PLIER = ['left_handle', 'right_handle', 'hinge', 'left_jaw', 'right_jaw']


def _load_tool():
    """The script as a module; its folder goes on the path, as running it puts it there (for
    its sibling ``_dataset_checks``)."""
    folder = os.path.join(ROOT, 'tools', 'dataset')
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(
        'check_dataset', os.path.join(ROOT, 'tools/dataset/check_dataset.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dataset = _load_tool()


def write_config(path, base, train_dir, anno, image_dir='', eval_dir=None):
    """A config on ``base`` whose TrainDataset is ``train_dir/anno`` (EvalDataset: ``eval_dir``,
    else the same)."""
    eval_dir = eval_dir or train_dir
    path.write_text(
        f'_BASE_: [{base}]\n'
        f'TrainDataset: !KeypointTopDownCocoDataset {{dataset_dir: {train_dir}, '
        f'image_dir: "{image_dir}", anno_path: {anno}}}\n'
        f'EvalDataset: !KeypointTopDownCocoDataset {{dataset_dir: {eval_dir}, '
        f'image_dir: "{image_dir}", anno_path: {anno}}}\n')
    return str(path)


def run_check(capsys, config, *options):
    code = check_dataset.main(['-c', config, *(['-o', *options] if options else [])])
    return code, capsys.readouterr().out


@pytest.fixture
def coco_copy(tmp_path):
    """A copy of the COCO fixture (4 images, 14 people) and a config whose TrainDataset reads
    it; EvalDataset reads the untouched original."""
    target = tmp_path / 'coco'
    shutil.copytree(COCO_DIR, target)
    config = write_config(tmp_path / 'coco.yml', COCO_CONFIG, target, 'test_coco.json',
                          eval_dir=COCO_DIR)
    with open(target / 'test_coco.json', encoding='utf-8') as f:
        data = json.load(f)

    def plant(change):
        change(data)
        (target / 'test_coco.json').write_text(json.dumps(data))
    return target, config, data, plant


def test_the_clean_fixture_passes_with_a_summary_and_a_histogram(capsys, coco_copy):
    _, config, _, _ = coco_copy
    code, out = run_check(capsys, config)
    assert code == 0 and '0 error(s), 0 warning(s)' in out
    train_row = next(line for line in out.splitlines() if line.startswith('TrainDataset '))
    assert train_row.split()[1:8] == ['4', '0', '14', '12', '0', '0', '0']
    nose = next(line for line in out.splitlines() if line.split()[:2] == ['0', 'nose'])
    assert nose.split()[2:5] == ['3', '0', '11']          # v=0, v=1, v=2 counts
    assert 'keypoint visibility' in out


def _drop_last_keypoint(data):
    data['annotations'][0]['keypoints'] = data['annotations'][0]['keypoints'][:-3]


def _set_keypoint(index, value):
    def change(data):
        data['annotations'][0]['keypoints'][index] = value
    return change


def _duplicate_first(data):
    data['annotations'].append(dict(data['annotations'][0], id=999))


def _repeat_id(data):
    data['annotations'][1]['id'] = data['annotations'][0]['id']


def _no_box(data):
    ann = data['annotations'][0]
    del ann['bbox']
    ann['keypoints'] = [0] * 51
    ann['keypoints'][0:3] = [300, 100, 2]


def _area_zero(data):
    data['annotations'][0]['area'] = 0


def _wrong_width(data):
    data['images'][0]['width'] = 600


def _swap_category_names(data):
    names = data['categories'][0]['keypoints']
    names[1], names[2] = names[2], names[1]


def _short_category(data):
    data['categories'][0]['keypoints'] = data['categories'][0]['keypoints'][:16]


@pytest.mark.parametrize('change, expected', [
    (_drop_last_keypoint, 'annotation id 442619: 16 keypoints but num_joints is 17'),
    (_set_keypoint(2, 3), 'annotation id 442619: keypoint 0 (nose) has v=3'),
    (_set_keypoint(0, 700), 'annotation id 442619: keypoint 0 (nose) at (700, '),
    (_duplicate_first, 'annotation id 999: duplicates annotation id 442619'),
    (_repeat_id, 'annotation id 442619: the id is used by 2 annotations'),
    (_no_box, 'annotation id 442619: no bbox and its labelled keypoints span no area'),
    (_area_zero, 'annotation id 442619: area is 0; the dataset skips it'),
    (_wrong_width, 'image id 785: the json says 600x425 but'),
    (_swap_category_names, 'the same names in another order'),
    (_short_category, "category 'person': lists 16 keypoints but num_joints is 17"),
], ids=['k', 'visibility', 'outside', 'duplicate', 'repeated-id', 'no-box', 'area-0',
        'image-size', 'name-order', 'category-k'])
def test_each_planted_annotation_defect_is_an_error_naming_file_and_id(capsys, coco_copy, change,
                                                                       expected):
    target, config, _, plant = coco_copy
    plant(change)
    code, out = run_check(capsys, config)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith('ERROR')]
    assert len(errors) == 1 and str(target / 'test_coco.json') in errors[0], errors
    assert expected in errors[0]


def test_a_missing_and_an_undecodable_image_are_errors(capsys, coco_copy):
    target, config, _, _ = coco_copy
    os.remove(target / '000000040083.jpg')
    jpeg = (target / '000000196141.jpg').read_bytes()
    (target / '000000196141.jpg').write_bytes(jpeg[:len(jpeg) // 2])
    code, out = run_check(capsys, config)
    errors = [line for line in out.splitlines() if line.startswith('ERROR')]
    assert code == 1 and len(errors) == 2
    assert 'image id 40083: image file not found' in errors[0]
    assert 'image id 196141: cannot read image' in errors[1] and 'truncated JPEG' in errors[1]
    train_row = next(line for line in out.splitlines() if line.startswith('TrainDataset '))
    assert train_row.split()[2] == '2'                   # bad images


def test_an_unreadable_json_is_one_error_and_a_row_without_counts(capsys, coco_copy):
    target, config, _, _ = coco_copy
    (target / 'test_coco.json').write_text('{"images": [')
    code, out = run_check(capsys, config)
    errors = [line for line in out.splitlines() if line.startswith('ERROR')]
    assert code == 1 and len(errors) == 1 and 'is not valid JSON' in errors[0]
    train_row = next(line for line in out.splitlines() if line.startswith('TrainDataset '))
    assert '(unreadable json)' in train_row and train_row.split()[3:5] == ['1', '0']


def test_no_decode_still_finds_the_missing_image(capsys, coco_copy):
    target, config, _, _ = coco_copy
    os.remove(target / '000000040083.jpg')
    code = check_dataset.main(['-c', config, '--no-decode'])
    assert code == 1 and 'image file not found' in capsys.readouterr().out


@pytest.mark.parametrize('option, expected', [
    ('keypoint_names=[nose, nose, right_eye, left_ear, right_ear, left_shoulder, '
     'right_shoulder, left_elbow, right_elbow, left_wrist, right_wrist, left_hip, right_hip, '
     'left_knee, right_knee, left_ankle, right_ankle]',
     "keypoint_names: name 'nose' is used by joints 0 and 1"),
    ('sigmas=[0.1, 0.1]', 'sigmas: 2 values but num_joints is 17'),
    ('flip_perm=[[1, 2], [3, 17]]', 'flip_perm: pair 1 [3, 17] is out of range'),
    ('epochh=3', 'unknown top-level key `epochh`'),
], ids=['names', 'sigmas', 'flip-range', 'config-key'])
def test_metadata_and_config_defects_are_errors(capsys, coco_copy, option, expected):
    _, config, _, _ = coco_copy
    code, out = run_check(capsys, config, option)
    errors = [line for line in out.splitlines() if line.startswith('ERROR')]
    assert code == 1 and len(errors) == 1 and expected in errors[0], errors


@pytest.fixture(scope='module')
def plier_config(tmp_path_factory):
    """The bundled labelme plier sample converted to COCO, and a plier config reading it."""
    root = tmp_path_factory.mktemp('plier')
    run_tool(['tools/dataset/labelme2coco.py', PLIER_LABELME, str(root / 'all.json'),
              '--keypoints', *PLIER, '--category', 'plier'])
    return write_config(root / 'plier.yml', PLIER_CONFIG, root, 'all.json',
                        image_dir=PLIER_LABELME)


ISSUE_NAMES = 'keypoint_names=[right_handle, left_handle, middle, right_head, left_head]'


def test_the_issue_flat_pair_list_is_flagged_and_the_right_pairs_suggested(capsys,
                                                                          plier_config):
    code, out = run_check(capsys, plier_config, ISSUE_NAMES, 'flip_perm=[0, 2, 1, 4, 3]')
    assert code == 1
    assert ('ERROR   flip_perm: [0, 2, 1, 4, 3] is a flat permutation; ppkpt takes [left, '
            'right] pairs. It stands for flip_perm: [[1, 2], [3, 4]]') in out
    warning = next(line for line in out.splitlines() if line.startswith('WARNING flip_perm'))
    assert '[1, 2] (left_handle <-> middle)' in warning
    assert 'give flip_perm: [[1, 0], [4, 3]]' in warning


def test_pairs_that_disagree_with_the_names_warn_and_suggest(capsys, plier_config):
    code, out = run_check(capsys, plier_config, ISSUE_NAMES, 'flip_perm=[[1, 2], [3, 4]]')
    assert code == 0 and '0 error(s)' in out
    warning = next(line for line in out.splitlines() if line.startswith('WARNING flip_perm'))
    assert 'left/right partners not paired: [1, 0] (left_handle <-> right_handle)' in warning
    assert 'give flip_perm: [[1, 0], [4, 3]]' in warning


def test_the_plier_sample_passes_from_the_command_line(plier_config):
    result = run_tool(['tools/dataset/check_dataset.py', '-c', plier_config])
    assert '0 error(s), 0 warning(s)' in result.stdout
    assert 'TrainDataset' in result.stdout and 'left_handle' in result.stdout
