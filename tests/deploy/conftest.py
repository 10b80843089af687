"""Tiny exported stand-in models shared by the deploy tests.

* ``keypoint_model_dir``: a top-down keypoint model whose K = 3 heatmaps are the normalised grey
  image sampled every 4th pixel (heatmap pixel i sits on input pixel 4i, the codec's stride),
  so a bright blob in a dark crop becomes the heatmap peak. Its ``infer_cfg.yml`` carries the
  codec :data:`KPT_CODEC` (``KPT_CODEC.to_config()``), as ppkpt's exports do.
* ``detector_model_dir``: a detector that always returns two fixed boxes given in network
  input pixels, mapped back to the original image through ``scale_factor``.
* ``trained_plier``: the tiny plier HRNet (``tests/helpers.py``) trained in-process until it
  localises the pliers of the ``plier_data`` val split, for the eval / deploy agreement test.
"""
import os
from typing import Callable, Dict, List

import numpy as np
import paddle
import pytest
from paddle.static import InputSpec

from ppkpt.codecs import HeatmapCodec
from ppkpt.engine.exporter import build_infer_cfg, export_model

NUM_JOINTS = 3
KPT_INPUT = [48, 64]  # [w, h]
KPT_HEATMAP = [12, 16]  # [w, h], stride 4
KPT_CODEC = HeatmapCodec(KPT_INPUT, KPT_HEATMAP, use_dark=False)
"""The export's codec: every argument but ``use_dark`` at its default, so the fallback codec of
a PaddleDetection-style export (trainsize + use_dark + probed heatmap size) is the same one."""
DET_INPUT = [128, 96]  # [w, h]
DET_BOXES_INPUT_PX = [[0.0, 0.9, 4.0, 8.0, 60.0, 90.0], [0.0, 0.8, 68.0, 8.0, 124.0, 90.0]]
NORMALISE = {'type': 'NormalizeImage', 'mean': [0.0, 0.0, 0.0], 'std': [1.0, 1.0, 1.0],
             'is_scale': True}


class GreyHeatmaps(paddle.nn.Layer):
    """[N, 3, H, W] -> [N, K, H/4, W/4]: the grey level at every 4th pixel, repeated K times."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = paddle.nn.AvgPool2D(1, 4)
        self.mix = paddle.nn.Conv2D(3, NUM_JOINTS, 1)
        self.mix.weight.set_value(np.full((NUM_JOINTS, 3, 1, 1), 1.0 / 3.0, np.float32))
        self.mix.bias.set_value(np.zeros(NUM_JOINTS, np.float32))

    def export_input_spec(self, image_shape: List[int]) -> List[InputSpec]:
        return [InputSpec([None] + list(image_shape), 'float32', name='image')]

    def export_forward(self, image: paddle.Tensor) -> paddle.Tensor:
        return self.mix(self.pool(image))


class FixedBoxes(paddle.nn.Layer):
    """Two boxes fixed in input pixels, divided by ``scale_factor`` (h_ratio, w_ratio)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer('boxes', paddle.to_tensor(DET_BOXES_INPUT_PX, dtype='float32'))

    def export_input_spec(self, image_shape: List[int]) -> List[InputSpec]:
        return [InputSpec([None] + list(image_shape), 'float32', name='image'),
                InputSpec([None, 2], 'float32', name='scale_factor')]

    def export_forward(self, image: paddle.Tensor, scale_factor: paddle.Tensor):
        ratio = paddle.concat([paddle.ones([2], 'float32'), scale_factor[0, ::-1],
                               scale_factor[0, ::-1]])
        bbox = self.boxes / ratio + 0.0 * paddle.mean(image)
        return bbox, paddle.full([1], 2, dtype='int32')


@pytest.fixture(scope='session')
def keypoint_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    meta = {'num_joints': NUM_JOINTS, 'keypoint_names': ['a', 'b', 'c'],
            'skeleton': [[0, 1], [1, 2]], 'sigmas': [0.05, 0.05, 0.05]}
    preprocess = [{'Decode': {}}, {'TopDownEvalAffine': {'trainsize': KPT_INPUT}}, NORMALISE,
                  {'Permute': {}}]
    cfg = build_infer_cfg('TopDownHRNet', preprocess=preprocess, metadata=meta,
                          codec=KPT_CODEC.to_config())
    out = str(tmp_path_factory.mktemp('kpt_model'))
    return export_model(GreyHeatmaps(), cfg, [3, KPT_INPUT[1], KPT_INPUT[0]], out)


@pytest.fixture(scope='session')
def detector_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    preprocess = [{'DetResize': {'target_size': DET_INPUT, 'keep_ratio': True}}, NORMALISE,
                  {'Permute': {}}]
    cfg = build_infer_cfg('CenterNet', preprocess=preprocess, label_list=['person'])
    out = str(tmp_path_factory.mktemp('det_model'))
    return export_model(FixedBoxes(), cfg, [3, DET_INPUT[1], DET_INPUT[0]], out)


def _plier_options(data_dir: str, save_dir: str, *extra: str) -> List[str]:
    """``tiny_plier_options`` with the head width option of the new config layout, plus
    ``extra``."""
    from helpers import tiny_plier_options

    head = 'TopDownHeatmapHead.in_channels=18'
    options = [head if option == 'TopDownHRNet.width=18' else option
               for option in tiny_plier_options(data_dir, save_dir)]
    return options + ([] if head in options else [head]) + list(extra)


@pytest.fixture(scope='session')
def plier_options() -> Callable[..., List[str]]:
    """``plier_options(data_dir, save_dir, *extra)``: the tiny plier ``-o`` options."""
    return _plier_options


TRAIN_EPOCHS = 15


@pytest.fixture(scope='session')
def trained_plier(plier_data: str, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """Weights of the tiny plier model that localise the val pliers (COCO AP well above 0).

    The model is fitted to the 11 val instances themselves, without augmentation
    (``TopDownAffine`` + ``GenerateTarget`` only), for 45 steps of batch 4: from scratch on the
    12 train images a few epochs leave the heatmaps flat (AP 0), and this fixture has to give
    sharp peaks in well under a minute on two CPU cores.

    Returns:
        ``{'data_dir', 'save_dir', 'weights'}``.
    """
    from ppkpt.core.cli import seed_everything
    from ppkpt.core.workspace import load_config
    from ppkpt.engine.trainer import Trainer
    from helpers import PLIER_CONFIG

    save_dir = str(tmp_path_factory.mktemp('trained_plier'))
    cfg = load_config(PLIER_CONFIG, _plier_options(
        plier_data, save_dir, f'epoch={TRAIN_EPOCHS}', f'snapshot_epoch={TRAIN_EPOCHS}',
        'log_iter=1000', 'TrainDataset.image_dir=images/val',
        'TrainDataset.anno_path=annotations/val.json',
        'TrainReader.sample_transforms=[{TopDownAffine: {}}, {GenerateTarget: {}}]'))
    seed_everything(0)
    trainer = Trainer(cfg, 'train')
    trainer.train()
    weights = os.path.join(save_dir, cfg['filename'], 'model_final.pdparams')
    assert os.path.isfile(weights), os.listdir(os.path.join(save_dir, cfg['filename']))
    return {'data_dir': plier_data, 'save_dir': save_dir, 'weights': weights}
