"""deploy/ must run without the training engine (and import paddle only to predict)."""
import json
import subprocess
import sys

from tests.helpers import ROOT


def test_deploy_imports_no_training_code() -> None:
    code = ('import json, sys, deploy.python.det_keypoint_unite_infer, '
            'deploy.python.video_metrics; '
            'print(json.dumps(sorted(m for m in sys.modules if m.startswith("ppkpt") '
            'or m == "paddle")))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert 'paddle' not in loaded  # paddle.inference is imported when a predictor is built
    # the shared eval preprocessing and the codecs come with the config registry (no paddle);
    # ppkpt.data.transforms also defines the training augmentations (numpy/cv2 only); the
    # command-line parser (PaddleDetection flag syntax) is ppkpt.core.cli (numpy only)
    allowed = {'ppkpt', 'ppkpt.core', 'ppkpt.core.cli', 'ppkpt.core.threads',
               'ppkpt.core.workspace', 'ppkpt.core.registry', 'ppkpt.core.build',
               'ppkpt.core.config_loader', 'ppkpt.geometry', 'ppkpt.metadata',
               'ppkpt.keypoint_presets', 'ppkpt.keypoint_names', 'ppkpt.keypoint_category',
               'ppkpt.codecs',
               'ppkpt.codecs.base', 'ppkpt.codecs.heatmap', 'ppkpt.codecs.associative_embedding',
               'ppkpt.codecs.tag_grouping',
               'ppkpt.data', 'ppkpt.data.transforms',
               'ppkpt.data.transforms.common', 'ppkpt.data.transforms.preprocess',
               'ppkpt.data.transforms.topdown', 'ppkpt.data.transforms.bottomup',
               'ppkpt.image_io', 'ppkpt.oks', 'ppkpt.visualize'}
    assert loaded <= allowed, loaded - allowed
    assert {'ppkpt.data.transforms.preprocess', 'ppkpt.codecs.base'} <= loaded
