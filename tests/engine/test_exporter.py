"""export_model / build_infer_cfg on a tiny stand-in layer, run back through Paddle Inference."""
import os
import sys
from typing import List

import numpy as np
import paddle
import pytest
import yaml
from paddle.static import InputSpec

from deploy.python.predictor import Predictor, load_infer_cfg, onnx_session
from ppkpt.codecs import HeatmapCodec, build_codec
from ppkpt.core.workspace import load_config
from ppkpt.engine.exporter import (build_infer_cfg, export_model, export_onnx,
                                   infer_cfg_from_config)
from ppkpt.metadata import KeypointMeta
from ppkpt.modeling.layers import upsample_nearest


class TinyConv(paddle.nn.Layer):
    """Conv + ReLU + stride-2 conv: [N, 3, 32, 24] -> [N, 4, 8, 6] "heatmaps"."""

    def __init__(self) -> None:
        super().__init__()
        self.body = paddle.nn.Sequential(paddle.nn.Conv2D(3, 8, 3, 2, 1), paddle.nn.ReLU(),
                                         paddle.nn.Conv2D(8, 4, 3, 2, 1))

    def export_input_spec(self, image_shape: List[int]) -> List[InputSpec]:
        return [InputSpec([None] + list(image_shape), 'float32', name='image')]

    def export_forward(self, image: paddle.Tensor) -> paddle.Tensor:
        return self.body(image)

    def forward(self, inputs: dict) -> dict:
        raise AssertionError('export must trace export_forward, not forward')


PREPROCESS = [{'Decode': {}}, {'TopDownEvalAffine': {'trainsize': [24, 32]}},
              {'NormalizeImage': {'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225],
                                  'is_scale': True}}, {'Permute': {}}]
CODEC = HeatmapCodec([24, 32], [6, 8], sigma=1.5, target_type='dark', use_dark=False)


def test_build_infer_cfg_keypoint_fields() -> None:
    meta = KeypointMeta(num_joints=4, skeleton=[[0, 1], [2, 3]], flip_pairs=[[0, 1]]).to_dict()
    cfg = build_infer_cfg('TopDownHRNet', preprocess=PREPROCESS, metadata=meta,
                          codec=CODEC.to_config(), min_subgraph_size=3)
    assert cfg['mode'] == 'paddle' and cfg['arch'] == 'TopDownHRNet'
    assert [op['type'] for op in cfg['Preprocess']] == ['TopDownEvalAffine', 'NormalizeImage',
                                                        'Permute']
    assert cfg['Preprocess'][0]['trainsize'] == [24, 32]
    assert cfg['num_joints'] == 4 and cfg['keypoint_names'] == ['kp0', 'kp1', 'kp2', 'kp3']
    assert cfg['flip_perm'] == [[0, 1]] and cfg['skeleton'] == [[0, 1], [2, 3]]
    assert cfg['sigmas'] == [0.025] * 4
    assert cfg['use_dark'] is False and cfg['label_list'] == ['keypoint']
    assert cfg['draw_threshold'] == 0.5 and cfg['min_subgraph_size'] == 3
    assert cfg['codec'] == {'type': 'HeatmapCodec', 'input_size': [24, 32], 'heatmap_size': [6, 8],
                            'sigma': 1.5, 'target_type': 'dark', 'use_dark': False,
                            'blur_kernel_size': 3, 'flip_alignment': 'pixel'}
    assert build_codec(cfg['codec']) == CODEC


def test_build_infer_cfg_top_level_use_dark_follows_the_codec() -> None:
    dark = HeatmapCodec([24, 32], [6, 8], use_dark=True).to_config()
    cfg = build_infer_cfg('TopDownHRNet', preprocess=PREPROCESS,
                          metadata=KeypointMeta(num_joints=4).to_dict(), codec=dark)
    assert cfg['use_dark'] is True and cfg['codec']['use_dark'] is True


def test_build_infer_cfg_keypoint_model_needs_its_codec() -> None:
    with pytest.raises(KeyError, match='needs its codec'):
        build_infer_cfg('TopDownHRNet', preprocess=PREPROCESS,
                        metadata=KeypointMeta(num_joints=4).to_dict())


def test_build_infer_cfg_detector_has_no_keypoint_keys() -> None:
    cfg = build_infer_cfg('CenterNet', preprocess=[{'type': 'Permute'}], label_list=['person'])
    assert cfg['label_list'] == ['person'] and 'num_joints' not in cfg and 'use_dark' not in cfg
    assert 'codec' not in cfg


def test_build_infer_cfg_rejects_bad_op() -> None:
    with pytest.raises(ValueError, match=r'preprocess\[1\]'):
        build_infer_cfg('CenterNet', preprocess=[{'Permute': {}}, {'A': {}, 'B': {}}])


def test_export_writes_pir_model_and_runs_with_onednn(tmp_path) -> None:
    paddle.seed(0)
    model = TinyConv()
    cfg = build_infer_cfg('TopDownHRNet', preprocess=PREPROCESS,
                          metadata=KeypointMeta(num_joints=4).to_dict(), codec=CODEC.to_config())
    out = export_model(model, cfg, [3, 32, 24], str(tmp_path / 'tiny'))
    assert sorted(os.listdir(out)) == ['infer_cfg.yml', 'model.json', 'model.pdiparams']
    with open(os.path.join(out, 'infer_cfg.yml')) as handle:
        assert yaml.safe_load(handle) == cfg
    read = load_infer_cfg(out)
    assert read.metadata['num_joints'] == 4 and read.codec == CODEC.to_config()

    image = np.random.default_rng(0).normal(size=(2, 3, 32, 24)).astype(np.float32)
    predictor = Predictor(out, enable_mkldnn=True, cpu_threads=1, batch_size=2)
    assert predictor.input_names == ['image']
    (result,) = predictor.run({'image': image})
    expected = model.export_forward(paddle.to_tensor(image)).numpy()
    assert result.shape == (2, 4, 8, 6)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)


def test_export_rejects_model_without_export_methods(tmp_path) -> None:
    with pytest.raises(TypeError, match='export_forward'):
        export_model(paddle.nn.Linear(2, 2), {}, [3, 8, 8], str(tmp_path))


class TinyUpsampler(TinyConv):
    """TinyConv, then ppkpt's nearest upsampling x2: [N, 3, 32, 24] -> [N, 4, 16, 12]."""

    def export_forward(self, image: paddle.Tensor) -> paddle.Tensor:
        return upsample_nearest(self.body(image), 2)


def _onnx_ops(path: str) -> List[str]:
    import onnx
    return [node.op_type for node in onnx.load(path).graph.node]


def test_export_onnx_runs_in_onnxruntime_like_paddle_inference(tmp_path) -> None:
    """``export_model(onnx=True)`` upsamples with one ``Resize``; converting the Paddle export
    afterwards keeps ``Expand``; both give Paddle Inference's numbers."""
    out = export_model(TinyUpsampler(), build_infer_cfg('TopDownHRNet'), [3, 32, 24],
                       str(tmp_path / 'onnx'), onnx=True)
    resized = os.path.join(out, 'model.onnx')
    expanded = export_onnx(out, target=str(tmp_path / 'expanded.onnx'))
    assert 'Resize' in _onnx_ops(resized) and 'Expand' not in _onnx_ops(resized)
    assert 'Expand' in _onnx_ops(expanded) and 'Resize' not in _onnx_ops(expanded)
    assert export_onnx(out) == resized
    image = np.random.default_rng(0).standard_normal((2, 3, 32, 24)).astype(np.float32)
    (paddle_heatmaps,) = Predictor(out, cpu_threads=1, batch_size=2).run({'image': image})
    for path in (resized, expanded):
        (onnx_heatmaps,) = onnx_session(path, cpu_threads=1).run(None, {'image': image})
        assert onnx_heatmaps.shape == (2, 4, 16, 12)
        np.testing.assert_allclose(onnx_heatmaps, paddle_heatmaps, rtol=1e-4, atol=1e-5)


def test_export_onnx_without_paddle2onnx_names_the_install_command(tmp_path, monkeypatch) -> None:
    out = export_model(TinyConv(), build_infer_cfg('TopDownHRNet'), [3, 32, 24], str(tmp_path))
    monkeypatch.setitem(sys.modules, 'paddle2onnx', None)
    with pytest.raises(ImportError, match='pip install paddle2onnx'):
        export_onnx(out)


def test_infer_cfg_from_config_for_keypoint_and_detector_configs() -> None:
    from tests.helpers import PLIER_CONFIG, ROOT

    plier = load_config(PLIER_CONFIG, ['trainsize=[96, 96]', 'hmsize=[24, 24]'])
    cfg = infer_cfg_from_config(plier)
    assert [op['type'] for op in cfg['Preprocess']] == ['TopDownEvalAffine', 'NormalizeImage',
                                                        'Permute']
    assert cfg['Preprocess'][0]['trainsize'] == [96, 96]
    assert cfg['num_joints'] == 5 and cfg['label_list'] == ['keypoint']
    # the config's `codec: !HeatmapCodec {sigma: 1.5, target_type: dark, use_dark: true}`, with
    # its sizes from trainsize / hmsize
    assert cfg['codec'] == HeatmapCodec([96, 96], [24, 24], sigma=1.5, target_type='dark',
                                        use_dark=True).to_config()
    assert cfg['use_dark'] is True
    assert yaml.safe_load(yaml.safe_dump(cfg)) == cfg  # plain YAML values only
    detector = infer_cfg_from_config(load_config(
        os.path.join(ROOT, 'configs/detector/centernet_lite_320.yml')))
    assert detector['arch'] == 'CenterNet' and detector['label_list'] == ['object']
    assert 'num_joints' not in detector and 'codec' not in detector
    assert detector['Preprocess'][0]['type'] == 'DetResize'


def test_infer_cfg_from_config_follows_codec_overrides() -> None:
    from tests.helpers import PLIER_CONFIG

    cfg = infer_cfg_from_config(load_config(PLIER_CONFIG, ['codec.use_dark=false',
                                                           'codec.target_type=udp']))
    assert cfg['codec']['target_type'] == 'udp' and cfg['codec']['use_dark'] is False
    assert cfg['use_dark'] is False and cfg['Preprocess'][0]['trainsize'] == [128, 128]
