"""Helpers shared by tests: paths, tiny-run config options and a tool runner."""
import os
import subprocess
import sys
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLIER_CONFIG = os.path.join(ROOT, 'configs/keypoint/custom/plier_5kp.yml')
DETECTOR_CONFIG = os.path.join(ROOT, 'configs/detector/centernet_lite_demo.yml')


def tiny_plier_options(data_dir: str, save_dir: str) -> List[str]:
    """``-o`` options that shrink the plier config to a seconds-long CPU run."""
    return [
        f'save_dir={save_dir}', 'epoch=2', 'snapshot_epoch=1', 'log_iter=1',
        'trainsize=[48, 48]', 'hmsize=[12, 12]', 'TestReader.inputs_def.image_shape=[3, 48, 48]',
        'TopDownHeatmapHead.in_channels=18', 'HRNet.width=18',
        f'TrainDataset.dataset_dir={data_dir}', f'EvalDataset.dataset_dir={data_dir}',
        'TrainReader.batch_size=4', 'EvalReader.batch_size=4',
        'LearningRate.base_lr=0.002',
        'LearningRate.schedulers=[!PiecewiseDecay {milestones: [100], gamma: 0.1}]',
    ]


def run_tool(args: List[str], env_update: dict = None, timeout: int = 300,
             check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repo root and return the completed process."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', GLOG_minloglevel='2', OMP_NUM_THREADS='1')
    env.update(env_update or {})
    result = subprocess.run([sys.executable] + args, cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f'{args} failed with code {result.returncode}:\n'
                             f'{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result
