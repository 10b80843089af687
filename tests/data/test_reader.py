"""Data-loading errors end the run, naming the file, with and without loader workers.

Every test iterates a loader in a subprocess with a timeout: a loader that hangs fails the
test instead of hanging the test run (paddle's DataLoader used to hang on any error raised
while loading, with ``worker_num: 0``).
"""
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Dict

import pytest

from helpers import PLIER_CONFIG, ROOT, run_tool, tiny_plier_options

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, 'iterate_train_reader.py')
MPII_DIR = os.path.join(HERE, 'mpii')
TIMEOUT = 120
"""Seconds a run may take before it counts as hung."""


def iterate(worker_num: int, *args: str) -> Dict[str, Any]:
    """Run ``iterate_train_reader.py``; its JSON line plus ``returncode`` and ``stderr``."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', GLOG_minloglevel='2', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, SCRIPT, '--worker_num', str(worker_num), *args],
                            cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT)
    lines = result.stdout.strip().splitlines()
    assert lines, f'no output (code {result.returncode}):\n{result.stderr[-3000:]}'
    return dict(json.loads(lines[-1]), returncode=result.returncode, stderr=result.stderr)


def mpii_copy(tmp_path, bad: Dict[str, bytes]) -> str:
    """The MPII fixture copied to ``tmp_path`` with the files named in ``bad`` overwritten."""
    root = tmp_path / 'mpii'
    shutil.copytree(MPII_DIR, root)
    for name, data in bad.items():
        (root / name).write_bytes(data)
    return str(root)


def truncated(name: str) -> bytes:
    """The first half of a fixture image."""
    with open(os.path.join(MPII_DIR, name), 'rb') as f:
        data = f.read()
    return data[:len(data) // 2]


@pytest.mark.parametrize('worker_num', [0, 2])
def test_a_raising_transform_ends_the_epoch_with_its_error(worker_num):
    out = iterate(worker_num, '--transform', 'fail_on:051423444.jpg')
    assert out['returncode'] == 3
    assert out['type'] == 'ValueError'
    assert out['message'].startswith('FailOn failed on ')
    assert out['message'].endswith('051423444.jpg: refusing this image')
    assert out['cause_type'] == 'LoaderTraceback'
    assert 'loading sample 2 (' in out['cause'] and 'KeypointTopDownMPIIDataset' in out['cause']
    assert 'in __call__' in out['cause']          # the traceback from where it was raised


@pytest.mark.parametrize('worker_num', [0, 2])
def test_a_zero_byte_image_ends_the_epoch_naming_it(tmp_path, worker_num):
    root = mpii_copy(tmp_path, {'004645041.jpg': b''})
    out = iterate(worker_num, '--dataset_dir', root)
    assert out['returncode'] == 3 and out['type'] == 'ImageReadError'
    assert out['message'] == (f'cannot read image {os.path.join(root, "004645041.jpg")}: '
                              f'empty file (0 bytes)')


@pytest.mark.parametrize('worker_num', [0, 2])
def test_skip_bad_images_skips_counts_and_names_each_file(tmp_path, worker_num):
    # samples 1 and 3 are bad; each is replaced by the next sample, so the epoch stays 5 long
    root = mpii_copy(tmp_path, {'052475643.jpg': b'', '004645041.jpg': truncated('004645041.jpg')})
    out = iterate(worker_num, '--dataset_dir', root, '--skip_bad_images')
    assert out['returncode'] == 0, out['stderr'][-3000:]
    assert (out['batches'], out['samples'], out['num_skipped']) == (3, 5, 2)
    warnings = [line for line in out['stderr'].splitlines() if 'skipping unreadable' in line]
    assert len(warnings) == 2
    assert 'empty file' in next(w for w in warnings if '052475643.jpg' in w)
    assert 'truncated JPEG' in next(w for w in warnings if '004645041.jpg' in w)


@pytest.mark.parametrize('worker_num', [0, 2])
def test_a_batch_that_cannot_be_stacked_ends_the_epoch_naming_its_images(worker_num):
    out = iterate(worker_num, '--transform', 'ragged')
    assert out['returncode'] == 3 and out['type'] == 'ValueError'
    assert 'collating the batch of the images' in out['cause']
    assert '005808361.jpg' in out['cause'] and '052475643.jpg' in out['cause']


@pytest.mark.parametrize('worker_num', [0, 2])
def test_train_tool_exits_non_zero_naming_a_zero_byte_image(plier_data, tmp_path, worker_num):
    data_dir = tmp_path / 'plier'
    shutil.copytree(plier_data, data_dir)
    bad = data_dir / 'images' / 'train' / '000003.jpg'
    assert bad.is_file()
    bad.write_bytes(b'')
    options = tiny_plier_options(str(data_dir), str(tmp_path / 'out'))
    options += ['epoch=1', f'TrainReader.worker_num={worker_num}']
    start = time.monotonic()
    result = run_tool(['tools/train.py', '-c', PLIER_CONFIG, '-o', *options], check=False,
                      timeout=TIMEOUT)
    assert result.returncode == 1, result.stderr[-3000:]
    assert time.monotonic() - start < TIMEOUT
    last = result.stderr.strip().splitlines()[-1]
    assert last == f'ppkpt.image_io.ImageReadError: cannot read image {bad}: empty file (0 bytes)'
    assert 'LoaderTraceback: raised while loading sample' in result.stderr
