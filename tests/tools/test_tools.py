"""The command-line tools: print_config, browse_dataset, infer and export."""
import importlib.util
import json
import os
import shutil

import cv2
import numpy as np
import paddle
import pytest
import yaml

from ppkpt.core.workspace import load_config, load_yaml
from ppkpt.engine.trainer import Trainer

from helpers import PLIER_CONFIG, ROOT, run_tool, tiny_plier_options


@pytest.fixture(scope='module')
def tiny_weights(plier_data, tmp_path_factory):
    """Randomly initialised weights of the tiny plier model, saved as .pdparams."""
    out = tmp_path_factory.mktemp('weights')
    paddle.seed(0)
    cfg = load_config(PLIER_CONFIG, tiny_plier_options(plier_data, str(out)))
    trainer = Trainer(cfg, 'test')
    path = str(out / 'tiny.pdparams')
    paddle.save(trainer.model.state_dict(), path)
    return path


def config_lines(stderr):
    """The ``ConfigError:`` lines a tool printed."""
    return [line for line in stderr.splitlines() if 'ConfigError' in line]


def test_print_config_prints_the_complete_config(tmp_path):
    out = run_tool(['tools/print_config.py', '-c', PLIER_CONFIG, '-o', 'epoch=3']).stdout
    printed = load_yaml(out)                          # the output is a loadable config
    assert printed['epoch'] == 3
    assert printed['flip_perm'] == [[0, 1], [3, 4]]
    assert printed['keypoint_names'] == ['left_handle', 'right_handle', 'hinge', 'left_jaw',
                                         'right_jaw']
    assert len(printed['keypoint_colors']) == 5      # metadata the file does not give
    codec = printed['codec']
    assert codec.name == 'HeatmapCodec'
    assert codec.kwargs == {'input_size': [128, 128], 'heatmap_size': [32, 32], 'sigma': 1.5,
                            'target_type': 'dark', 'use_dark': True, 'blur_kernel_size': 3,
                            'flip_alignment': 'pixel'}
    head = printed['TopDownHeatmapHead']
    assert head['num_joints'] == 5 and head['flip_perm'] == [[0, 1], [3, 4]]
    assert head['in_channels'] == 32 and 'codec' not in head   # the codec is top-level only
    assert printed['TrainDataset'].kwargs['skip_bad_images'] is False
    assert '!KeypointTopDownCocoDataset' in out
    coco = load_yaml(run_tool(['tools/print_config.py', '-c',
                               'configs/keypoint/hrnet/hrnet_w32_256x192.yml']).stdout)
    assert coco['keypoint_preset'] == 'coco17' and coco['keypoint_names'][0] == 'nose'
    assert coco['codec'].kwargs['input_size'] == [192, 256]


def test_print_config_lists_components():
    listing = run_tool(['tools/print_config.py', '--list']).stdout
    assert 'TopDownHRNet  [architecture]' in listing
    assert 'TopDownHeatmapHead  [head]' in listing and 'HeatmapCodec  [codec]' in listing
    assert 'use_gt_bbox: bool (default True)' in listing
    assert 'ToHeatmapsTopDown' not in listing


def test_print_config_misspelled_top_level_key_is_one_line_and_exit_2():
    result = run_tool(['tools/print_config.py', '-c', PLIER_CONFIG, '-o', 'epochh=3'],
                      check=False)
    assert result.returncode == 2 and result.stdout == ''
    lines = config_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith('ConfigError: ') and '`epochh`' in lines[0]
    assert 'Did you mean `epoch`?' in lines[0]


def test_print_config_reports_misspelled_key(tmp_path):
    bad = tmp_path / 'bad.yml'
    bad.write_text(f'_BASE_: [{PLIER_CONFIG}]\nEvalDataset: !KeypointTopDownCocoDataset\n'
                   '  use_gt_box: true\n')
    result = run_tool(['tools/print_config.py', '-c', str(bad)], check=False)
    assert result.returncode == 2
    assert 'Unknown key `use_gt_box` in EvalDataset (KeypointTopDownCocoDataset). ' \
           'Did you mean `use_gt_bbox`?' in result.stderr


@pytest.mark.parametrize('option, message', [
    ('TopDownHRNet.use_dark=true', '`use_dark` in TopDownHRNet (TopDownHRNet) is now set as '
                                   '`codec.use_dark`'),
    ('TopDownHeatmapHead.in_chanels=18', 'Unknown key `in_chanels` in TopDownHeatmapHead '
                                         '(TopDownHeatmapHead). Did you mean `in_channels`?'),
])
def test_print_config_checks_sections_as_training_would(option, message):
    result = run_tool(['tools/print_config.py', '-c', PLIER_CONFIG, '-o', option], check=False)
    assert result.returncode == 2 and result.stdout == ''
    lines = config_lines(result.stderr)
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.parametrize('mode', ['original', 'transformed'])
def test_browse_dataset_draws_samples(plier_data, tmp_path, mode):
    run_tool(['tools/browse_dataset.py', '-c', PLIER_CONFIG, '--mode', mode, '--num', '3',
              '--out', str(tmp_path), '-o', *tiny_plier_options(plier_data, str(tmp_path))])
    images = sorted(p for p in os.listdir(tmp_path) if p.endswith('.png'))
    assert len(images) == 3 and all(p.startswith(mode) for p in images)
    drawn = cv2.imread(str(tmp_path / images[0]))
    if mode == 'transformed':
        assert drawn.shape[:2] == (48, 48)


def load_tool(name):
    """Import ``tools/<name>.py`` as a module (the tools folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f'tool_{name}', os.path.join(ROOT, 'tools',
                                                                               f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_browse_dataset_keeps_the_ops_before_the_target():
    browse = load_tool('browse_dataset')
    ops = browse.geometric_ops(load_config(PLIER_CONFIG))
    assert [type(op).__name__ for op in ops] == ['RandomFlipHalfBodyTransform', 'TopDownAffine']
    assert ops[1].trainsize == [128, 128]            # built with the config's codec


def test_infer_writes_overlays_and_json(plier_data, tiny_weights, tmp_path):
    image = os.path.join(plier_data, 'images', 'val', '000000.jpg')
    run_tool(['tools/infer.py', '-c', PLIER_CONFIG, '--infer_img', image, '--output_dir',
              str(tmp_path), '-o', *tiny_plier_options(plier_data, str(tmp_path)),
              f'weights={tiny_weights}'])
    result = json.loads((tmp_path / 'keypoints.json').read_text())
    assert result['keypoint_names'][2] == 'hinge'
    persons = result['results'][0]['persons']
    assert len(persons) == 1 and persons[0]['bbox'] is None  # no boxes: the whole image
    keypoints = np.asarray(persons[0]['keypoints'])
    assert keypoints.shape == (5, 3)
    np.testing.assert_allclose(persons[0]['score'], keypoints[:, 2].mean(), rtol=1e-6)
    height, width = cv2.imread(image).shape[:2]
    cell = max(width, height) / 12  # one heatmap pixel of the 48x48 input in image pixels
    assert (keypoints[:, 0] >= -cell).all() and (keypoints[:, 0] <= width + cell).all()
    assert (keypoints[:, 1] >= -cell).all() and (keypoints[:, 1] <= height + cell).all()
    assert os.path.isfile(tmp_path / '000000.jpg')


def test_infer_dir_predicts_every_image_in_it(plier_data, tiny_weights, tmp_path):
    image_dir = tmp_path / 'images'
    image_dir.mkdir()
    for name in ('000000.jpg', '000001.jpg'):
        shutil.copy(os.path.join(plier_data, 'images', 'val', name), image_dir / name)
    (image_dir / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    run_tool(['tools/infer.py', '-c', PLIER_CONFIG, '--infer_dir', str(image_dir),
              '--output_dir', str(out), '-o', *tiny_plier_options(plier_data, str(tmp_path)),
              f'weights={tiny_weights}'])
    result = json.loads((out / 'keypoints.json').read_text())
    assert sorted(os.path.basename(r['image_file']) for r in result['results']) == \
        ['000000.jpg', '000001.jpg']
    assert (out / '000000.jpg').is_file() and (out / '000001.jpg').is_file()


def test_infer_crops_every_box_of_the_bbox_file(plier_data, tiny_weights, tmp_path):
    image = os.path.join(plier_data, 'images', 'val', '000001.jpg')
    boxes = [[4.0, 6.0, 40.0, 50.0], [50.0, 30.0, 30.0, 60.0]]   # x, y, w, h
    detections = [{'image_id': 1, 'category_id': 1, 'bbox': boxes[0], 'score': 0.9},
                  {'image_id': 1, 'category_id': 1, 'bbox': boxes[1], 'score': 0.8},
                  {'image_id': 1, 'category_id': 1, 'bbox': [0, 0, 90, 90], 'score': 0.1},
                  {'image_id': 1, 'category_id': 3, 'bbox': [0, 0, 90, 90], 'score': 0.9},
                  {'image_id': 7, 'category_id': 1, 'bbox': [0, 0, 90, 90], 'score': 0.9}]
    bbox_file = tmp_path / 'dets.json'
    bbox_file.write_text(json.dumps(detections))
    out = tmp_path / 'out'
    run_tool(['tools/infer.py', '-c', PLIER_CONFIG, '--infer_img', image, '--bbox_file',
              str(bbox_file), '--output_dir', str(out),
              '-o', *tiny_plier_options(plier_data, str(tmp_path)), f'weights={tiny_weights}'])
    result = json.loads((out / 'keypoints.json').read_text())
    assert len(result['results']) == 1
    persons = result['results'][0]['persons']
    assert [p['bbox'] for p in persons] == [[4.0, 6.0, 44.0, 56.0], [50.0, 30.0, 80.0, 90.0]]
    first, second = (np.asarray(p['keypoints']) for p in persons)
    assert first.shape == second.shape == (5, 3)
    assert not np.allclose(first[:, :2], second[:, :2])   # each box is cropped on its own
    for (x1, y1, x2, y2), kpts in zip([[4, 6, 44, 56], [50, 30, 80, 90]], (first, second)):
        # the crop is the box padded to the square input and enlarged 1.25x
        side = 1.25 * max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        assert (np.abs(kpts[:, 0] - cx) <= side / 2 + 1).all()
        assert (np.abs(kpts[:, 1] - cy) <= side / 2 + 1).all()


def test_export_writes_model_and_infer_cfg_without_touching_data(tiny_weights, tmp_path):
    missing = str(tmp_path / 'no_such_dataset')
    run_tool(['tools/export_model.py', '-c', PLIER_CONFIG, '--output_dir', str(tmp_path),
              '-o', *tiny_plier_options(missing, str(tmp_path)), f'weights={tiny_weights}'])
    out_dir = tmp_path / 'plier_5kp'
    assert (out_dir / 'model.pdiparams').is_file()
    assert (out_dir / 'model.json').is_file() or (out_dir / 'model.pdmodel').is_file()
    infer_cfg = yaml.safe_load((out_dir / 'infer_cfg.yml').read_text())
    assert infer_cfg['arch'] and infer_cfg['num_joints'] == 5
    assert infer_cfg['flip_perm'] == [[0, 1], [3, 4]]
    assert infer_cfg['skeleton'] == [[0, 2], [1, 2], [2, 3], [2, 4]]
    assert infer_cfg['codec'] == {'type': 'HeatmapCodec', 'input_size': [48, 48],
                                  'heatmap_size': [12, 12], 'sigma': 1.5, 'target_type': 'dark',
                                  'use_dark': True, 'blur_kernel_size': 3,
                                  'flip_alignment': 'pixel'}
    assert infer_cfg['use_dark'] is True
    assert [op['type'] for op in infer_cfg['Preprocess']] == \
        ['TopDownEvalAffine', 'NormalizeImage', 'Permute']
    assert not os.path.exists(missing)
