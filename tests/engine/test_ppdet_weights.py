"""PaddleDetection weights: config-built models have its exact state_dict, and load both ways."""
import os

import numpy as np
import paddle
import pytest

from ppkpt.core.workspace import load_config
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
    cfg = load_config(os.path.join(ROOT, CONFIGS[stem]), [f'save_dir={tmp_path}'])
    return Trainer(cfg, mode='test')


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


def _ppdet_like_state(seed: int = 1):
    """Random weights under PaddleDetection's HRNet-W32 names (BatchNorm statistics valid)."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in read_keys('hrnet_w32_256x192'):
        if name.endswith(('_variance', 'norm.weight')):
            state[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif len(shape) == 4:
            fan_in = int(np.prod(shape[1:]))
            state[name] = (rng.standard_normal(shape) * 0.6 / np.sqrt(fan_in)).astype(np.float32)
        else:
            state[name] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    return state


def test_init_model_loads_ppdet_weights_strictly_and_gives_the_same_heatmaps(tmp_path):
    from ppkpt.apis import init_model
    from ppkpt.modeling.backbones.hrnet import HRNet

    state = _ppdet_like_state()
    path = str(tmp_path / 'ppdet_hrnet_w32.pdparams')
    paddle.save(state, path)
    model = init_model(os.path.join(ROOT, CONFIGS['hrnet_w32_256x192']), path)
    assert not model.training and model.cfg['filename'] == 'hrnet_w32_256x192'
    image = paddle.to_tensor(np.random.default_rng(2).normal(size=(1, 3, 256, 192))
                             .astype(np.float32))
    with paddle.no_grad():
        heatmaps = model.predict_heatmaps(image).numpy()
        # The reference: PaddleDetection's forward, a bare HRNet and a 1x1 conv named final_conv.
        backbone = HRNet(width=32, freeze_at=-1, freeze_norm=False, return_idx=[0])
        backbone.set_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                                 if k.startswith('backbone.')})
        backbone.eval()
        expected = paddle.nn.functional.conv2d(
            backbone(image)[0], paddle.to_tensor(state['final_conv.weight']),
            paddle.to_tensor(state['final_conv.bias'])).numpy()
    assert heatmaps.shape == (1, 17, 64, 48) and heatmaps.std() > 1e-3
    assert np.abs(heatmaps - expected).max() < 1e-5
    broken = dict(state)
    del broken['final_conv.bias']
    paddle.save(broken, path)
    with pytest.raises(Exception, match='final_conv.bias'):
        init_model(os.path.join(ROOT, CONFIGS['hrnet_w32_256x192']), path)
