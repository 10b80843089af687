"""PaddleDetection weights: config-built models have its exact state_dict, and load both ways."""
import os

import numpy as np
import paddle
import pytest

import ppkpt.components  # noqa: F401
from ppkpt.core.cli import load_with_overrides
from ppkpt.engine.env import fill_keypoint_metadata
from ppkpt.engine.trainer import Trainer

from helpers import ROOT

KEYS_DIR = os.path.join(ROOT, 'tests', 'data', 'ppdet_keys')
CONFIGS = {
    'hrnet_w32_256x192': 'configs/keypoint/hrnet/hrnet_w32_256x192.yml',
    'dark_hrnet_w48_256x192': 'configs/keypoint/hrnet/dark_hrnet_w48_256x192.yml',
    'hrnet_w32_256x256_mpii': 'configs/keypoint/hrnet/hrnet_w32_256x256_mpii.yml',
}


def read_keys(stem):
    with open(os.path.join(KEYS_DIR, f'{stem}.txt')) as f:
        rows = [line.rstrip('\n').split('\t') for line in f if not line.startswith('#')]
    return [(name, [int(v) for v in shape.split(',')] if shape else []) for name, shape, _ in rows]


def build(stem, tmp_path):
    cfg = load_with_overrides(os.path.join(ROOT, CONFIGS[stem]), [f'save_dir={tmp_path}'])
    return Trainer(fill_keypoint_metadata(cfg), mode='test')


@pytest.mark.parametrize('stem', sorted(CONFIGS))
def test_config_models_have_ppdet_state_dict(stem, tmp_path):
    state = build(stem, tmp_path).model.state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == read_keys(stem)


def test_ppdet_pdparams_load_strictly_and_as_pretrain(tmp_path):
    rng = np.random.default_rng(0)
    fake = {name: rng.standard_normal(shape).astype(np.float32) * 0.01
            for name, shape in read_keys('hrnet_w32_256x192')}
    path = str(tmp_path / 'hrnet_w32_256x192.pdparams')
    paddle.save(fake, path)
    trainer = build('hrnet_w32_256x192', tmp_path)
    trainer.load_weights(path)
    loaded = trainer.model.state_dict()
    for name in ('backbone.conv_layer1_1.conv.weight', 'final_conv.weight'):
        np.testing.assert_array_equal(loaded[name].numpy(), fake[name])
    other = build('hrnet_w32_256x192', tmp_path)
    other.load_pretrain(path)
    np.testing.assert_array_equal(other.model.state_dict()['final_conv.bias'].numpy(),
                                  fake['final_conv.bias'])
