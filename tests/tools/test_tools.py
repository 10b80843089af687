"""The command-line tools: print_config, browse_dataset, infer and export."""
import json
import os
import shutil

import cv2
import numpy as np
import paddle
import pytest
import yaml

import ppkpt.components  # noqa: F401
from ppkpt.core.cli import load_with_overrides
from ppkpt.engine.env import fill_keypoint_metadata
from ppkpt.engine.trainer import Trainer

from helpers import PLIER_CONFIG, run_tool, tiny_plier_options


@pytest.fixture(scope='module')
def tiny_weights(plier_data, tmp_path_factory):
    """Randomly initialised weights of the tiny plier model, saved as .pdparams."""
    out = tmp_path_factory.mktemp('weights')
    paddle.seed(0)
    cfg = load_with_overrides(PLIER_CONFIG, tiny_plier_options(plier_data, str(out)))
    trainer = Trainer(fill_keypoint_metadata(cfg), 'test')
    path = str(out / 'tiny.pdparams')
    paddle.save(trainer.model.state_dict(), path)
    return path


def test_print_config_fills_defaults_and_lists_components(tmp_path):
    out = run_tool(['tools/print_config.py', '-c', PLIER_CONFIG, '-o', 'epoch=3']).stdout
    assert 'epoch: 3' in out
    assert 'shift_heatmap: true' in out
    assert '!KeypointTopDownCocoDataset' in out and 'skip_bad_images: false' in out
    listing = run_tool(['tools/print_config.py', '--list']).stdout
    assert 'TopDownHRNet  [architecture]' in listing
    assert 'use_gt_bbox: bool (default True)' in listing


def test_print_config_reports_misspelled_key(tmp_path):
    bad = tmp_path / 'bad.yml'
    bad.write_text(f'_BASE_: [{PLIER_CONFIG}]\nEvalDataset: !KeypointTopDownCocoDataset\n'
                   '  use_gt_box: true\n')
    result = run_tool(['tools/print_config.py', '-c', str(bad)], check=False)
    assert result.returncode != 0
    assert 'Unknown key `use_gt_box` in EvalDataset (KeypointTopDownCocoDataset). ' \
           'Did you mean `use_gt_bbox`?' in result.stderr


@pytest.mark.parametrize('mode', ['original', 'transformed'])
def test_browse_dataset_draws_samples(plier_data, tmp_path, mode):
    run_tool(['tools/browse_dataset.py', '-c', PLIER_CONFIG, '--mode', mode, '--num', '3',
              '--out', str(tmp_path), '-o', *tiny_plier_options(plier_data, str(tmp_path))])
    images = sorted(p for p in os.listdir(tmp_path) if p.endswith('.png'))
    assert len(images) == 3 and all(p.startswith(mode) for p in images)
    drawn = cv2.imread(str(tmp_path / images[0]))
    if mode == 'transformed':
        assert drawn.shape[:2] == (48, 48)


def test_infer_writes_overlays_and_json(plier_data, tiny_weights, tmp_path):
    image = os.path.join(plier_data, 'images', 'val', '000000.jpg')
    run_tool(['tools/infer.py', '-c', PLIER_CONFIG, '--infer_img', image, '--output_dir',
              str(tmp_path), '-o', *tiny_plier_options(plier_data, str(tmp_path)),
              f'weights={tiny_weights}'])
    result = json.loads((tmp_path / 'keypoints.json').read_text())
    assert result['keypoint_names'][2] == 'hinge'
    keypoints = np.asarray(result['results'][0]['keypoints'])
    assert keypoints.shape == (5, 3)
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
    assert [op['type'] for op in infer_cfg['Preprocess']] == \
        ['TopDownEvalAffine', 'NormalizeImage', 'Permute']
    assert not os.path.exists(missing)
