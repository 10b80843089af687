"""Tests for ppkpt.engine.weights: strict and lenient loading."""
import numpy as np
import paddle
import pytest

from ppkpt.engine.weights import load_pretrain_weight, load_weight
from tests.engine.tiny_nets import numpy_state as _numpy_state, tiny_posenet as _net


# ------------------------------------------------------------------ load_weight (strict)


def test_load_weight_roundtrip_without_suffix(tmp_path):
    source = _net(seed=1)
    paddle.save(source.state_dict(), str(tmp_path / 'best_model.pdparams'))
    target = _net(seed=2)
    load_weight(target, str(tmp_path / 'best_model'))
    for key, value in _numpy_state(source).items():
        np.testing.assert_array_equal(target.state_dict()[key].numpy(), value)


def test_load_weight_lists_every_problem(tmp_path):
    state = _numpy_state(_net(num_joints=5))
    del state['backbone.bn._mean']
    del state['backbone.conv.bias']
    state['neck.weight'] = np.zeros((2, 2), np.float32)
    path = str(tmp_path / 'other.pdparams')
    paddle.save(state, path)
    target = _net(num_joints=3)
    before = _numpy_state(target)
    with pytest.raises(ValueError) as info:
        load_weight(target, path)
    message = str(info.value)
    assert path in message
    assert '(5 problems)' in message
    assert 'missing key: backbone.bn._mean (expected shape [4])' in message
    assert 'missing key: backbone.conv.bias (expected shape [4])' in message
    assert 'unexpected key: neck.weight (shape [2, 2])' in message
    assert 'shape mismatch: final.weight expected [3, 4, 1, 1], got [5, 4, 1, 1]' in message
    assert 'shape mismatch: final.bias expected [3], got [5]' in message
    for key, value in before.items():
        np.testing.assert_array_equal(target.state_dict()[key].numpy(), value)


def test_load_weight_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.pdparams'):
        load_weight(_net(), str(tmp_path / 'nope'))


# ------------------------------------------------------------------ load_pretrain_weight (lenient)


def test_pretrain_skips_wrong_shaped_head_and_logs_it(tmp_path, ppkpt_log):
    source = _net(num_joints=17, seed=1)
    path = str(tmp_path / 'coco.pdparams')
    paddle.save(source.state_dict(), path)
    target = _net(num_joints=3, seed=2)
    head_before = target.final.weight.numpy().copy()
    load_pretrain_weight(target, path)
    np.testing.assert_array_equal(target.final.weight.numpy(), head_before)
    np.testing.assert_array_equal(target.backbone.conv.weight.numpy(),
                                  source.backbone.conv.weight.numpy())
    np.testing.assert_array_equal(target.backbone.bn._variance.numpy(),
                                  source.backbone.bn._variance.numpy())
    text = ppkpt_log.text
    assert 'skip final.weight, shape mismatch: model [3, 4, 1, 1], file [17, 4, 1, 1]' in text
    assert 'skip final.bias, shape mismatch: model [3], file [17]' in text
    assert 'Loaded 6 of 8 model entries' in text and '(2 skipped)' in text


def test_pretrain_matches_backbone_file_by_suffix_and_casts_dtype(tmp_path, ppkpt_log):
    backbone = _numpy_state(_net(seed=4).backbone)
    backbone['conv.weight'] = backbone['conv.weight'].astype(np.float64)
    paddle.save(backbone, str(tmp_path / 'imagenet.pdparams'))
    target = _net(seed=5)
    load_pretrain_weight(target, str(tmp_path / 'imagenet.pdparams'))
    np.testing.assert_allclose(target.backbone.conv.weight.numpy(), backbone['conv.weight'],
                               rtol=1e-6)
    assert target.backbone.conv.weight.dtype == paddle.float32
    assert 'skip final.weight (not in the file)' in ppkpt_log.text


def test_pretrain_ambiguous_suffix_is_skipped(tmp_path, ppkpt_log):
    state = {'a.final.bias': np.ones(3, np.float32), 'b.final.bias': np.zeros(3, np.float32)}
    paddle.save(state, str(tmp_path / 'two.pdparams'))
    target = _net()
    before = target.final.bias.numpy().copy()
    load_pretrain_weight(target, str(tmp_path / 'two.pdparams'))
    np.testing.assert_array_equal(target.final.bias.numpy(), before)
    assert "skip final.bias (ambiguous, it matches ['a.final.bias', 'b.final.bias'])" in \
        ppkpt_log.text
