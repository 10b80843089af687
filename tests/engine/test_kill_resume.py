"""SIGKILL a tiny training run at random moments, at least once in the middle of a snapshot
write, and resume it each time with ``-r`` on its run folder: it must end with the bitwise
weights, optimiser state, curves and ``best_model`` of an uninterrupted run with the same seed.

The kill moments come from a seeded RNG: four kills after a random delay in the training (the
first one once snapshot 0 exists, so there is something to resume), and two through the
checkpoint test hook (``PPKPT_TEST_SIGKILL_AT``) inside the next snapshot's write: after its
``.pdparams`` (new weights beside no optimiser state) and after its ``.pdopt`` (both files,
manifest not committed). So that a fast timed attempt cannot finish the run, timed attempts
also carry the hook at the start of the ``model_final`` write. The reference run trains on the
other core meanwhile.
"""
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np
import paddle

from ppkpt.engine.checkpoint import KILL_HOOK_ENV, load_resume, snapshot_problems

from helpers import PLIER_CONFIG, ROOT, tiny_plier_options

EPOCHS = 6
TIMED_KILLS = 4
HOOK_STEPS = ('pdparams', 'pdopt')
SEED = 2024
_SAVED = re.compile(r'Saved snapshot \S+ \(epoch (\d+)\)')
_RESUMED = re.compile(r'Resumed from (\S+): epoch (-?\d+) done')


def _start(args: List[str], log_path: str, env_update: Optional[Dict[str, str]] = None
           ) -> subprocess.Popen:
    """``python tools/train.py ...`` in the background, stdout and stderr to ``log_path``."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', GLOG_minloglevel='2', OMP_NUM_THREADS='1')
    env.pop(KILL_HOOK_ENV, None)
    env.update(env_update or {})
    with open(log_path, 'w') as log:
        return subprocess.Popen([sys.executable, 'tools/train.py'] + args, cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def _wait_for(proc: subprocess.Popen, log_path: str, pattern: str, timeout: float = 120.0
              ) -> bool:
    """Wait until ``pattern`` appears in the log (True) or the process exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path) as f:
            if re.search(pattern, f.read()):
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError(f'{pattern!r} did not appear in {log_path} within {timeout} s')


def _sigkill(proc: subprocess.Popen) -> int:
    """SIGKILL ``proc`` if it still runs; return its exit code."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=60)


def _newest_complete_epoch(run_dir: str) -> int:
    """The highest last_epoch of an epoch snapshot whose manifest is complete and whose files
    match their recorded sha256, read here without ppkpt's code (-1 when there is none)."""
    newest = -1
    for name in os.listdir(run_dir):
        match = re.fullmatch(r'(\d+|model_final)\.manifest\.json', name)
        if match is None:
            continue
        with open(os.path.join(run_dir, name)) as f:
            manifest = json.load(f)
        files = manifest['files']
        intact = manifest['state'] == 'complete' and all(
            os.path.isfile(os.path.join(run_dir, f)) and
            hashlib.sha256(open(os.path.join(run_dir, f), 'rb').read()).hexdigest()
            == entry['sha256'] for f, entry in files.items())
        if intact:
            newest = max(newest, manifest['last_epoch'])
    return newest


def _cut_writes(run_dir: str) -> Set[Tuple[str, int]]:
    """``(name, mtime_ns)`` of what cut snapshot writes leave: temporary files and manifests
    that say "writing"."""
    cut = set()
    for name in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
        path = os.path.join(run_dir, name)
        if name.endswith('.manifest.json'):
            with open(path) as f:
                if json.load(f)['state'] == 'complete':
                    continue
        elif not name.endswith('.tmp'):
            continue
        cut.add((name, os.stat(path).st_mtime_ns))
    return cut


def _assert_bitwise_equal(a: Any, b: Any, where: str) -> None:
    """Tensors and arrays: same dtype, shape and bytes; dicts key by key; the rest ``==``."""
    if isinstance(a, (paddle.Tensor, np.ndarray)):
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype == y.dtype and x.shape == y.shape, where
        assert x.tobytes() == y.tobytes(), f'{where} differs'
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            _assert_bitwise_equal(a[key], b[key], f'{where}.{key}')
    else:
        assert a == b, where


def _assert_same_run(expected_dir: str, run_dir: str) -> None:
    """The final and best snapshots (weights, optimiser, history) and curves are identical."""
    for name in ('model_final', 'best_model'):
        _assert_bitwise_equal(paddle.load(os.path.join(expected_dir, f'{name}.pdparams')),
                              paddle.load(os.path.join(run_dir, f'{name}.pdparams')), name)
        expected = load_resume(os.path.join(expected_dir, name))
        got = load_resume(os.path.join(run_dir, name))
        _assert_bitwise_equal(expected.optimizer_state, got.optimizer_state, f'{name}.pdopt')
        _assert_bitwise_equal(expected.extra['history'], got.extra['history'], f'{name} history')
        assert expected.last_epoch == got.last_epoch
    assert load_resume(run_dir).prefix == os.path.join(run_dir, 'model_final')
    with open(os.path.join(expected_dir, 'curves.json')) as f, \
            open(os.path.join(run_dir, 'curves.json')) as g:
        assert json.load(f) == json.load(g)


def _kill_plan(rng: random.Random) -> List[str]:
    """``'time'`` or a hook step per kill; the first is timed (it needs snapshot 0 first)."""
    rest = ['time'] * (TIMED_KILLS - 1) + list(HOOK_STEPS)
    rng.shuffle(rest)
    return ['time'] + rest


def _snapshot_name(epoch: int) -> str:
    return 'model_final' if epoch == EPOCHS - 1 else str(epoch)


class KilledRun:
    """The run under test: each attempt resumes it from its folder and gets killed."""

    def __init__(self, data_dir: str, tmp_path: Any, rng: random.Random) -> None:
        self.data_dir = data_dir
        self.tmp_path = tmp_path
        self.rng = rng
        self.root = str(tmp_path / 'killed')
        self.run_dir = os.path.join(self.root, 'plier_5kp')
        self.epoch_seconds = 0.0

    def args(self, save_dir: str) -> List[str]:
        return ['-c', PLIER_CONFIG, '--seed', '0', '--eval', '-o',
                *tiny_plier_options(self.data_dir, save_dir), f'epoch={EPOCHS}']

    def attempt(self, index: int, kind: str) -> Dict[str, Any]:
        """Start attempt ``index``, kill it (``kind``: ``'time'`` or a hook step) and check it
        resumed from the newest complete snapshot.

        Returns:
            ``resumed_after`` (the epoch of the snapshot it resumed, None for the first),
            ``lost`` (logged snapshots the kill lost) and ``cut_write`` (killed mid-write).
        """
        log_path = str(self.tmp_path / f'attempt{index}.log')
        next_epoch = _newest_complete_epoch(self.run_dir) + 1 if index else 0
        # A timed attempt never finishes the run: at the latest it dies as model_final starts.
        where = 'model_final:begin' if kind == 'time' else f'{_snapshot_name(next_epoch)}:{kind}'
        cut_before = _cut_writes(self.run_dir)
        proc = _start(self.args(self.root) + (['-r', self.run_dir] if index else []), log_path,
                      {KILL_HOOK_ENV: where})
        code = self._kill_later(proc, log_path, index) if kind == 'time' else \
            proc.wait(timeout=300)
        log = open(log_path).read()
        assert code == -signal.SIGKILL, f'attempt {index} ({kind}) ended with {code}:\n{log}'
        if index:
            resumed = os.path.join(self.run_dir, _snapshot_name(next_epoch - 1))
            assert _RESUMED.search(log).groups() == (resumed, str(next_epoch - 1)), log
        if kind != 'time':
            assert snapshot_problems(os.path.join(self.run_dir, _snapshot_name(next_epoch)))
        logged = [int(e) for e in _SAVED.findall(log)] + [next_epoch - 1]
        return {'resumed_after': next_epoch - 1 if index else None,
                'lost': max(0, max(logged) - _newest_complete_epoch(self.run_dir)),
                'cut_write': bool(_cut_writes(self.run_dir) - cut_before)}

    def _kill_later(self, proc: subprocess.Popen, log_path: str, index: int) -> int:
        """SIGKILL after a random delay once training runs (the first attempt: once snapshot 0
        is saved, timing that epoch for the delays)."""
        assert _wait_for(proc, log_path, r'Epoch: \[\d+\] \[1/'), open(log_path).read()
        started = time.monotonic()
        if index == 0:
            assert _wait_for(proc, log_path, _SAVED.pattern), open(log_path).read()
            self.epoch_seconds = time.monotonic() - started
        time.sleep(self.rng.uniform(0.1, 1.7) * self.epoch_seconds)
        return _sigkill(proc)


def test_sigkill_at_random_moments_then_resume_from_the_run_folder_is_bitwise_exact(
        plier_data, tmp_path):
    rng = random.Random(SEED)
    run = KilledRun(plier_data, tmp_path, rng)
    ref_dir = str(tmp_path / 'reference')
    reference = _start(run.args(ref_dir), str(tmp_path / 'reference.log'))
    plan = _kill_plan(rng)
    results = [run.attempt(index, kind) for index, kind in enumerate(plan)]

    final_log = str(tmp_path / 'final.log')
    next_epoch = _newest_complete_epoch(run.run_dir) + 1
    final = _start(run.args(run.root) + ['-r', run.run_dir], final_log)
    assert final.wait(timeout=300) == 0, open(final_log).read()
    assert f'training continues at epoch {next_epoch}' in open(final_log).read()
    assert reference.wait(timeout=300) == 0, open(tmp_path / 'reference.log').read()

    cut_writes = sum(r['cut_write'] for r in results)
    lost = max(r['lost'] for r in results)
    print(f'\nkills: {len(plan)} ({cut_writes} during a snapshot write), resumed after epochs '
          f'{[r["resumed_after"] for r in results[1:]] + [next_epoch - 1]}, epochs lost: {lost}')
    assert len(plan) >= 5 and cut_writes >= len(HOOK_STEPS)
    assert lost == 0
    _assert_same_run(os.path.join(ref_dir, 'plier_5kp'), run.run_dir)
    assert not any(name.endswith('.tmp') for name in os.listdir(run.run_dir))
