"""docs/custom_dataset.md: every bash block runs, in order, on the bundled plier sample.

The blocks run in one bash script from a scratch folder laid out like the repo (``tools`` and
``deploy`` linked, ``configs`` copied, ``tests/data/plier`` linked), so the walk-through writes
its dataset, configs, checkpoints and videos there and not into the checkout.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from typing import List, Tuple

import pytest

from helpers import ROOT

DOC = os.path.join(ROOT, 'docs', 'custom_dataset.md')
PLIER = ['left_handle', 'right_handle', 'hinge', 'left_jaw', 'right_jaw']
_BLOCK = re.compile(r'(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```',
                    re.DOTALL | re.MULTILINE)


def doc_blocks(text: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    """(files [(path, content)] from marked yaml blocks, bash block bodies) in doc order."""
    files, commands = [], []
    for match in _BLOCK.finditer(text):
        if match.group('file'):
            files.append((match.group('file'), match.group('body')))
        elif match.group('lang') == 'bash':
            commands.append(match.group('body'))
    return files, commands


@pytest.fixture(scope='module')
def walkthrough(tmp_path_factory):
    """Run the walk-through once; returns (scratch folder, completed process)."""
    with open(DOC, encoding='utf-8') as f:
        files, commands = doc_blocks(f.read())
    work = tmp_path_factory.mktemp('walkthrough')
    for name in ('tools', 'deploy'):
        os.symlink(os.path.join(ROOT, name), work / name)
    shutil.copytree(os.path.join(ROOT, 'configs'), work / 'configs')
    (work / 'tests' / 'data').mkdir(parents=True)
    os.symlink(os.path.join(ROOT, 'tests', 'data', 'plier'), work / 'tests' / 'data' / 'plier')
    for path, content in files:
        (work / path).write_text(content)
    script = 'set -euo pipefail\nset -x\n' + '\n'.join(commands)
    env = dict(os.environ, PATH=f'{os.path.dirname(sys.executable)}{os.pathsep}'
                                f'{os.environ.get("PATH", "")}',
               PYTHONWARNINGS='ignore', GLOG_minloglevel='2', OMP_NUM_THREADS='1')
    result = subprocess.run(['bash', '-c', script], cwd=work, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return work, result


def test_the_doc_has_every_step_and_two_config_files():
    with open(DOC, encoding='utf-8') as f:
        files, commands = doc_blocks(f.read())
    assert [path for path, _ in files] == ['configs/keypoint/custom/my_plier.yml',
                                           'configs/detector/my_plier_detector.yml']
    script = '\n'.join(commands)
    for tool in ('labelme2coco.py', 'split_coco.py', 'check_dataset.py', 'tools/train.py',
                 'tools/eval.py', 'tools/export_model.py', 'det_keypoint_unite_infer.py'):
        assert tool in script
    assert 'TINY=' in script and 'Real use: TINY=' in script


def summary_rows(text: str) -> List[List[str]]:
    """The TrainDataset / EvalDataset rows of a check_dataset summary, without the json path."""
    return [line.split()[:9] for line in text.splitlines()
            if line.startswith(('TrainDataset ', 'EvalDataset '))]


def test_conversion_split_and_check(walkthrough):
    work, result = walkthrough
    annotations = work / 'dataset' / 'plier' / 'annotations'
    train = json.loads((annotations / 'train.json').read_text())
    val = json.loads((annotations / 'val.json').read_text())
    assert (len(train['images']), len(val['images'])) == (12, 4)
    assert len(train['annotations']) + len(val['annotations']) == 29
    assert train['categories'][0]['keypoints'] == PLIER
    assert '0 error(s), 0 warning(s)' in result.stdout
    with open(DOC, encoding='utf-8') as f:
        shown = summary_rows(f.read())
    assert shown == summary_rows(result.stdout) and len(shown) == 2   # the doc's sample output


def test_training_evaluation_export_and_video(walkthrough):
    work, result = walkthrough
    assert (work / 'output' / 'my_plier' / 'model_final.pdparams').is_file()
    assert (work / 'output' / 'my_plier' / 'curves.png').is_file()
    assert (result.stdout + result.stderr).count('| AP | AP .5 |') == 2   # train --eval, eval
    for name in ('my_plier', 'my_plier_detector'):
        assert (work / 'output_inference' / name / 'infer_cfg.yml').is_file()
    assert (work / 'output' / 'video' / 'plier.mp4').is_file()
    pose = json.loads((work / 'output' / 'video' / 'plier_pose.json').read_text())
    assert pose['complete'] is True and len(pose['frames']) == 20
    assert pose['keypoint_names'] == PLIER and pose['smooth'] is True
