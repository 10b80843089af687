"""Tests for ppkpt.engine.checkpoint: whole snapshots and resume."""
import hashlib
import json
import os
import signal

import numpy as np
import paddle
import pytest
from paddle.utils import unique_name

from ppkpt.engine.checkpoint import (KILL_HOOK_ENV, MANIFEST_SUFFIX, SnapshotError,
                                     latest_snapshot, load_resume, remove_stale_temp_files,
                                     save_checkpoint, snapshot_problems)
from ppkpt.engine.ema import ModelEMA
from ppkpt.engine.optimizer import LearningRate, LinearWarmup, OptimizerBuilder, PiecewiseDecay
from ppkpt.engine.weights import load_weight
from tests.engine.tiny_nets import numpy_state as _numpy_state, tiny_posenet as _net


# ------------------------------------------------------------------ snapshots


def _save(folder, name, epoch, seed=0):
    """A complete snapshot of a fresh net; returns the net."""
    model = _net(seed=seed)
    save_checkpoint(model.state_dict(), {'LR_Scheduler': {'last_epoch': epoch}}, str(folder),
                    name, {'last_epoch': epoch})
    return model


class Killed(BaseException):
    """What the stand-in os.kill raises: the process stops where SIGKILL would stop it."""


@pytest.fixture
def kill_at(monkeypatch):
    """``kill_at('3:pdopt')`` makes the next write of snapshot 3 stop right after its .pdopt,
    through the documented test hook (os.kill replaced, so the test process survives)."""
    def fake_kill(pid, sig):
        assert pid == os.getpid() and sig == signal.SIGKILL
        raise Killed()
    monkeypatch.setattr(os, 'kill', fake_kill)
    return lambda where: monkeypatch.setenv(KILL_HOOK_ENV, where)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_save_writes_weights_optimizer_and_a_manifest_with_checksums(tmp_path):
    model = _net()
    prefix = save_checkpoint(model.state_dict(), {'LR_Scheduler': {'last_epoch': 7}},
                             str(tmp_path / 'run'), '3', {'last_epoch': 3, 'ema': {'step': 9}})
    run = tmp_path / 'run'
    assert prefix == str(run / '3')
    assert sorted(os.listdir(run)) == ['3.manifest.json', '3.pdopt', '3.pdparams']
    manifest = json.loads((run / '3.manifest.json').read_text())
    assert manifest == {
        'format': 'ppkpt-snapshot/1', 'state': 'complete', 'name': '3', 'last_epoch': 3,
        'files': {f: {'bytes': (run / f).stat().st_size, 'sha256': _sha256(run / f)}
                  for f in ('3.pdparams', '3.pdopt')}}
    assert snapshot_problems(prefix) == []
    for path in (prefix, prefix + '.pdparams', prefix + '.pdopt', prefix + MANIFEST_SUFFIX):
        snapshot = load_resume(path)
        assert snapshot.prefix == prefix and snapshot.last_epoch == 3
        assert snapshot.optimizer_state == {'LR_Scheduler': {'last_epoch': 7}}
        assert snapshot.extra == {'last_epoch': 3, 'ema': {'step': 9}}
        np.testing.assert_array_equal(snapshot.model_state['final.weight'].numpy(),
                                      model.final.weight.numpy())


def test_snapshot_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        _save(tmp_path, '0', 0)
    finally:
        os.umask(umask)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {'0o644'}


def test_extra_key_clash_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"\['LR_Scheduler'\]"):
        save_checkpoint({}, {'LR_Scheduler': {}}, str(tmp_path), 'x', {'LR_Scheduler': 1})


@pytest.mark.parametrize('step, missing', [
    ('begin', ['1.pdparams is missing', '1.pdopt is missing']),
    ('pdparams', ['1.pdopt is missing']),
    ('pdopt', []),
])
def test_kill_during_a_write_leaves_an_incomplete_snapshot_that_is_never_loaded(
        tmp_path, kill_at, step, missing):
    _save(tmp_path, '0', 0)
    kill_at(f'1:{step}')
    with pytest.raises(Killed):
        _save(tmp_path, '1', 1)
    prefix = str(tmp_path / '1')
    expected = ["1.manifest.json says its write was interrupted (state 'writing')"] + missing
    assert snapshot_problems(prefix) == expected
    with pytest.raises(SnapshotError) as err:
        load_resume(prefix)
    message = str(err.value)
    assert f'Cannot resume from {prefix}: the snapshot is incomplete: ' in message
    assert '; '.join(expected) in message
    assert (f'The last complete snapshot is {tmp_path / "0"} (epoch 0): resume with -r '
            f'{tmp_path / "0"} or -r {tmp_path}.') in message
    assert load_resume(str(tmp_path)).prefix == str(tmp_path / '0')


def test_kill_after_the_commit_leaves_a_complete_snapshot(tmp_path, kill_at):
    kill_at('0:commit')
    with pytest.raises(Killed):
        _save(tmp_path, '0', 0)
    assert snapshot_problems(str(tmp_path / '0')) == []


def test_new_weights_beside_an_old_optimizer_state_are_refused(tmp_path, kill_at):
    """The failure of the per-file scheme: rewriting a snapshot is killed between its two
    files, so the new .pdparams sits beside the previous .pdopt."""
    _save(tmp_path, 'model_final', 4, seed=1)
    old_pdopt = (tmp_path / 'model_final.pdopt').read_bytes()
    kill_at('model_final:pdparams')
    with pytest.raises(Killed):
        _save(tmp_path, 'model_final', 9, seed=2)
    assert (tmp_path / 'model_final.pdopt').read_bytes() == old_pdopt
    with pytest.raises(SnapshotError, match=r"model_final\.manifest\.json says its write was "
                                            r"interrupted.*no complete snapshot in"):
        load_resume(str(tmp_path / 'model_final'))


def test_a_corrupt_file_is_named(tmp_path):
    _save(tmp_path, '0', 0)
    _save(tmp_path, '1', 1)
    pdopt = tmp_path / '1.pdopt'
    data = bytearray(pdopt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pdopt.write_bytes(bytes(data))
    assert snapshot_problems(str(tmp_path / '1')) == [
        '1.pdopt does not match its sha256 in the manifest']
    (tmp_path / '1.pdparams').write_bytes(b'half')
    assert snapshot_problems(str(tmp_path / '1'))[0] == (
        f'1.pdparams has 4 bytes, the manifest says {(tmp_path / "0.pdparams").stat().st_size}')


def test_failed_write_removes_its_temporary_file_and_keeps_the_old_files(tmp_path, monkeypatch):
    old = _save(tmp_path, 'model_final', 1, seed=1)
    before = {f: (tmp_path / f).read_bytes() for f in ('model_final.pdparams', 'model_final.pdopt')}
    real_save = paddle.save

    def full_disk(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        with open(path, 'r+b') as f:
            f.truncate(os.path.getsize(path) // 2)
        raise OSError('No space left on device')

    monkeypatch.setattr(paddle, 'save', full_disk)
    with pytest.raises(OSError, match='No space left'):
        _save(tmp_path, 'model_final', 2, seed=2)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ['model_final.manifest.json', 'model_final.pdopt',
                                            'model_final.pdparams']
    assert {f: (tmp_path / f).read_bytes() for f in before} == before
    assert snapshot_problems(str(tmp_path / 'model_final'))[0].endswith("(state 'writing')")
    target = _net(seed=3)
    load_weight(target, str(tmp_path / 'model_final.pdparams'))
    np.testing.assert_array_equal(target.final.weight.numpy(), old.final.weight.numpy())


def test_stale_temporary_files_are_removed(tmp_path):
    _save(tmp_path, '0', 0)
    for name in ('.1.pdparams.4242.tmp', '.1.manifest.json.7.tmp'):
        (tmp_path / name).write_bytes(b'half')
    (tmp_path / 'notes.tmp').write_text('mine')
    assert remove_stale_temp_files(str(tmp_path)) == ['.1.manifest.json.7.tmp',
                                                      '.1.pdparams.4242.tmp']
    assert sorted(os.listdir(tmp_path)) == ['0.manifest.json', '0.pdopt', '0.pdparams',
                                            'notes.tmp']


# ------------------------------------------------------------------ resuming a run folder


def test_run_folder_resumes_the_newest_complete_epoch_snapshot(tmp_path, kill_at, ppkpt_log):
    _save(tmp_path, '0', 0)
    _save(tmp_path, '1', 1)
    _save(tmp_path, 'best_model', 5)
    kill_at('2:pdparams')
    with pytest.raises(Killed):
        _save(tmp_path, '2', 2)
    assert latest_snapshot(str(tmp_path)) == str(tmp_path / '1')
    snapshot = load_resume(str(tmp_path) + '/')
    assert snapshot.prefix == str(tmp_path / '1') and snapshot.last_epoch == 1
    assert f'Skipping incomplete snapshot {tmp_path / "2"}: 2.manifest.json says' in ppkpt_log.text
    assert (f'Resuming from the newest complete snapshot in {tmp_path}: {tmp_path / "1"} '
            '(epoch 1)') in ppkpt_log.text


def test_model_final_of_a_longer_run_is_newer_than_the_numbered_snapshots(tmp_path):
    _save(tmp_path, '8', 8)
    _save(tmp_path, 'model_final', 9)
    assert load_resume(str(tmp_path)).prefix == str(tmp_path / 'model_final')
    _save(tmp_path, '10', 10)
    assert load_resume(str(tmp_path)).prefix == str(tmp_path / '10')


def test_run_folder_without_a_complete_snapshot_is_an_error(tmp_path, kill_at):
    with pytest.raises(SnapshotError) as err:
        load_resume(str(tmp_path))
    assert str(err.value) == (f'Cannot resume from {tmp_path}: There is no complete snapshot in '
                              f'{tmp_path}.')
    kill_at('0:pdopt')
    with pytest.raises(Killed):
        _save(tmp_path, '0', 0)
    with pytest.raises(SnapshotError, match='no complete snapshot'):
        load_resume(str(tmp_path))


def test_paddledetection_snapshot_loads_by_name_with_a_warning(tmp_path, ppkpt_log):
    paddle.save(_net().state_dict(), str(tmp_path / '9.pdparams'))
    paddle.save({'LR_Scheduler': {'last_epoch': 90}, 'last_epoch': 9}, str(tmp_path / '9.pdopt'))
    snapshot = load_resume(str(tmp_path / '9'))
    assert snapshot.optimizer_state == {'LR_Scheduler': {'last_epoch': 90}}
    assert snapshot.extra == {'last_epoch': 9} and snapshot.last_epoch == 9
    assert 'has no manifest (PaddleDetection or older ppkpt)' in ppkpt_log.text
    with pytest.raises(SnapshotError, match=r'Snapshots without a manifest \(PaddleDetection or '
                                            r'older ppkpt\): 9; pass one as -r .*9\.$'):
        load_resume(str(tmp_path))


def test_half_of_a_snapshot_without_manifest_names_the_missing_file(tmp_path):
    _save(tmp_path, '1', 1)
    paddle.save(_net().state_dict(), str(tmp_path / '2.pdparams'))
    with pytest.raises(SnapshotError) as err:
        load_resume(str(tmp_path / '2.pdparams'))
    assert str(err.value) == (
        f'Cannot resume from {tmp_path / "2"}: the snapshot is incomplete: 2.pdopt is missing. '
        f'The last complete snapshot is {tmp_path / "1"} (epoch 1): resume with -r '
        f'{tmp_path / "1"} or -r {tmp_path}.')
    with pytest.raises(SnapshotError, match=r'nothing\.pdparams is missing; nothing\.pdopt'):
        load_resume(str(tmp_path / 'nothing'))


# ------------------------------------------------------------------ exact resume


def _build_run(seed):
    model = _net(seed=seed)
    lr = LearningRate(0.01, [PiecewiseDecay(milestones=[1]), LinearWarmup(steps=2)])(3)
    optimizer = OptimizerBuilder({'type': 'Adam'}, {'type': 'L2', 'factor': 1e-3},
                                 clip_grad_by_norm=1.0)(lr, model.parameters())
    return model, optimizer, lr, ModelEMA(model, decay=0.9)


def _train(model, optimizer, lr, ema, steps, seed):
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        x = paddle.to_tensor(rng.standard_normal((2, 3, 6, 6)).astype('float32'))
        model(x).square().mean().backward()
        optimizer.step()
        optimizer.clear_grad()
        lr.step()
        ema.update(model)


def test_resume_continuation_is_bit_exact(tmp_path):
    with unique_name.guard():
        model, optimizer, lr, ema = _build_run(seed=0)
        _train(model, optimizer, lr, ema, 2, seed=1)
        save_checkpoint(model.state_dict(), optimizer.state_dict(), str(tmp_path), '0',
                        {'last_epoch': 0, 'ema': ema.state_dict()})
        _train(model, optimizer, lr, ema, 4, seed=2)
        expected = _numpy_state(model)
        expected_ema = {k: v.numpy() for k, v in ema.apply().items()}
        expected_lr = (lr.last_epoch, optimizer.get_lr())

    with unique_name.guard():
        model2, optimizer2, lr2, ema2 = _build_run(seed=7)
        snapshot = load_resume(str(tmp_path))
        assert snapshot.optimizer_state['LR_Scheduler']['last_epoch'] == 2
        model2.set_state_dict(snapshot.model_state)
        optimizer2.set_state_dict(snapshot.optimizer_state)
        ema2.set_state_dict(snapshot.extra['ema'])
        assert snapshot.last_epoch == 0 and lr2.last_epoch == 2
        _train(model2, optimizer2, lr2, ema2, 4, seed=2)
    assert (lr2.last_epoch, optimizer2.get_lr()) == expected_lr
    for key, value in expected.items():
        np.testing.assert_array_equal(model2.state_dict()[key].numpy(), value, err_msg=key)
    for key, value in expected_ema.items():
        np.testing.assert_array_equal(ema2.apply()[key].numpy(), value, err_msg=key)
