"""Two CPU processes (gloo) train together and end with identical weights."""
import os

import numpy as np
import paddle

from helpers import ROOT, run_tool


def test_two_cpu_processes_end_with_identical_weights(plier_data, tmp_path):
    worker = os.path.join(ROOT, 'tests', 'engine', 'dist_worker.py')
    result = run_tool(['-m', 'paddle.distributed.launch', '--nproc_per_node', '2',
                       '--log_dir', str(tmp_path / 'log'), worker, plier_data, str(tmp_path)],
                      timeout=600)
    logs = ''.join((tmp_path / 'log' / f'workerlog.{r}').read_text() for r in (0, 1))
    assert 'rank 0 of 2' in logs and 'rank 1 of 2' in logs, result.stdout[-2000:]
    rank0 = paddle.load(str(tmp_path / 'rank0.pdparams'))
    rank1 = paddle.load(str(tmp_path / 'rank1.pdparams'))
    assert set(rank0) == set(rank1)
    bn_stats = [k for k in rank0 if k.endswith(('_mean', '_variance'))]
    assert bn_stats
    for key in rank0:
        np.testing.assert_allclose(np.asarray(rank0[key]), np.asarray(rank1[key]), rtol=0,
                                   atol=1e-6, err_msg=key)
    checkpoints = os.listdir(tmp_path / 'plier_5kp')
    assert 'model_final.pdparams' in checkpoints
