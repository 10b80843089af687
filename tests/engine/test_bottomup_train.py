"""A tiny HigherHRNet trains on tiny bottom-up data (the loss falls) and evaluates through
Trainer.evaluate with the bottom-up COCO metric."""
import json
import os

import numpy as np
import paddle

from ppkpt.core.workspace import load_config
from ppkpt.engine.trainer import Trainer
from ppkpt.metrics.coco_bottomup import KeyPointBottomUpCOCOEval

from tests.helpers import ROOT

DEMO_CONFIG = os.path.join(ROOT, 'configs/keypoint/demo/higherhrnet_plier_demo.yml')


def _tiny_options(data_dir: str, save_dir: str):
    """The demo config at 64x64 on the 12 + 6 image ``plier_data`` split, 30 steps."""
    return [f'save_dir={save_dir}', 'epoch=10', 'snapshot_epoch=10', 'log_iter=1',
            'trainsize=[64, 64]', f'TrainDataset.dataset_dir={data_dir}',
            f'EvalDataset.dataset_dir={data_dir}', 'TrainReader.batch_size=4',
            'EvalReader.sample_transforms=[{EvalAffine: {size: 64, stride: 32}}, '
            '{NormalizeImage: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], '
            'is_scale: true}}, {Permute: {}}]',
            'LearningRate.base_lr=0.03',
            'LearningRate.schedulers=[!PiecewiseDecay {milestones: [100]}, '
            '!LinearWarmup {start_factor: 0.1, steps: 5}]']


def _mean_loss_on(trainer: Trainer, batches: list) -> float:
    """The mean training loss of fixed batches, without a step (batch-statistics BatchNorm)."""
    trainer.model.train()
    with paddle.no_grad():
        return float(np.mean([float(trainer.model(batch)['loss']) for batch in batches]))


def test_tiny_higherhrnet_loss_falls_and_it_evaluates(plier_data, tmp_path):
    np.random.seed(0)
    paddle.seed(0)
    cfg = load_config(DEMO_CONFIG, _tiny_options(plier_data, str(tmp_path)))
    trainer = Trainer(cfg, 'train')
    assert len(trainer.loader) == 3
    batches = list(trainer.loader)  # one epoch of augmented batches, kept fixed
    before = _mean_loss_on(trainer, batches)
    trainer.train()
    assert len(trainer.history.losses) == 30 and all(np.isfinite(trainer.history.losses))
    after = _mean_loss_on(trainer, batches)
    # seeds 0, 1, 2 give after / before = 0.77, 0.75, 0.73
    assert after < 0.85 * before, (before, after)
    assert os.path.isfile(os.path.join(trainer.save_dir, 'model_final.pdparams'))

    metric = trainer.build_metric()
    assert isinstance(metric, KeyPointBottomUpCOCOEval)
    assert metric.anno_file == trainer.eval_dataset.get_anno() and metric.num_samples == 6
    np.testing.assert_allclose(metric.sigmas, cfg['sigmas'])
    stats = trainer.evaluate()['keypoint']
    assert len(stats) == 10 and all(-1.0 <= v <= 1.0 for v in stats)  # -1: no such GT
    with open(os.path.join(trainer.save_dir, 'keypoints_results.json')) as f:
        results = json.load(f)
    assert all(len(r['keypoints']) == 15 for r in results)
