"""deploy/ must run without the training engine."""
import json
import subprocess
import sys

from tests.helpers import ROOT


def test_deploy_imports_no_training_code() -> None:
    code = ('import json, sys, deploy.python.det_keypoint_unite_infer, '
            'deploy.python.video_metrics; '
            'print(json.dumps(sorted(m for m in sys.modules if m.startswith("ppkpt"))))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    allowed = {'ppkpt', 'ppkpt.core', 'ppkpt.core.threads', 'ppkpt.geometry', 'ppkpt.metadata',
               'ppkpt.codecs', 'ppkpt.codecs.heatmap', 'ppkpt.image_io', 'ppkpt.oks',
               'ppkpt.visualize'}
    assert loaded <= allowed, loaded - allowed
