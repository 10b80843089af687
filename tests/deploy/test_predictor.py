"""Predictor: file checks before any work, infer_cfg parsing, feeding by name."""
import argparse
import os
import shutil

import cv2
import numpy as np
import pytest

from deploy.python import io_utils
from deploy.python.predictor import (Predictor, StageTimer, benchmark_report, find_model_files,
                                     load_infer_cfg)
from tests.helpers import run_tool


def test_missing_model_dir_names_the_path(tmp_path) -> None:
    missing = str(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match='nope'):
        Predictor(missing)


def test_missing_params_file_names_it(tmp_path, keypoint_model_dir) -> None:
    broken = tmp_path / 'broken'
    shutil.copytree(keypoint_model_dir, broken)
    os.remove(broken / 'model.pdiparams')
    with pytest.raises(FileNotFoundError, match='model.pdiparams'):
        find_model_files(str(broken))


def test_missing_program_lists_the_expected_names(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r'model\.json.*model\.pdmodel'):
        find_model_files(str(tmp_path))


def test_infer_cfg_fields(keypoint_model_dir) -> None:
    cfg = load_infer_cfg(keypoint_model_dir)
    assert cfg.arch == 'TopDownHRNet' and cfg.use_dark is False
    assert cfg.codec == {'type': 'HeatmapCodec', 'input_size': [48, 64], 'heatmap_size': [12, 16],
                         'sigma': 2, 'target_type': 'gaussian', 'use_dark': False,
                         'blur_kernel_size': 3, 'flip_alignment': 'pixel'}
    assert cfg.metadata['num_joints'] == 3 and cfg.metadata['skeleton'] == [[0, 1], [1, 2]]
    assert [op['type'] for op in cfg.preprocess] == ['TopDownEvalAffine', 'NormalizeImage',
                                                     'Permute']


def test_detector_infer_cfg_has_no_codec(detector_model_dir) -> None:
    cfg = load_infer_cfg(detector_model_dir)
    assert cfg.codec == {} and cfg.metadata == {} and cfg.label_list == ['person']


def test_infer_cfg_without_arch_is_rejected(tmp_path) -> None:
    (tmp_path / 'infer_cfg.yml').write_text('mode: paddle\n')
    with pytest.raises(ValueError, match='arch'):
        load_infer_cfg(str(tmp_path))


def test_bad_options_fail_before_loading(keypoint_model_dir) -> None:
    with pytest.raises(ValueError, match='TensorRT'):
        Predictor(keypoint_model_dir, device='cpu', run_mode='trt_fp16')
    with pytest.raises(ValueError, match='device'):
        Predictor(keypoint_model_dir, device='tpu')


def test_run_feeds_inputs_by_name(detector_model_dir) -> None:
    predictor = Predictor(detector_model_dir, cpu_threads=1)
    assert sorted(predictor.input_names) == ['image', 'scale_factor']
    image = np.zeros((1, 3, 96, 128), np.float32)
    bbox, num = predictor.run({'image': image, 'scale_factor': np.array([[0.5, 0.25]], np.float32),
                               'unused': np.zeros(1)})
    assert int(num[0]) == 2
    np.testing.assert_allclose(bbox[0], [0.0, 0.9, 16.0, 16.0, 240.0, 180.0], rtol=1e-6)
    with pytest.raises(KeyError, match='scale_factor'):
        predictor.run({'image': image})


def _copy_with_onnx(model_dir: str, out: str) -> str:
    """A copy of an exported model directory with ``model.onnx`` added (paddle2onnx)."""
    from ppkpt.engine.exporter import export_onnx

    shutil.copytree(model_dir, out)
    export_onnx(out)
    return out


def test_onnxruntime_run_mode_gives_paddle_inferences_outputs(keypoint_model_dir,
                                                              tmp_path) -> None:
    model_dir = _copy_with_onnx(keypoint_model_dir, str(tmp_path / 'kpt'))
    onnx = Predictor(model_dir, run_mode='onnxruntime', cpu_threads=1)
    paddle_predictor = Predictor(model_dir, cpu_threads=1)
    assert onnx._predictor is None  # the session, not a paddle predictor, runs the model
    assert sorted(onnx.input_names) == sorted(paddle_predictor.input_names)
    image = np.random.default_rng(0).random((2, 3, 64, 48), np.float32)  # the stand-in's input
    (got,), (expected,) = onnx.run({'image': image}), paddle_predictor.run({'image': image})
    assert got.shape == (2, 3, 16, 12)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match='image'):
        onnx.run({})


SHARED_POOL_SCRIPT = """
import sys
import numpy as np
from deploy.python.predictor import Predictor, share_onnx_threads
own = Predictor(sys.argv[1], run_mode='onnxruntime', cpu_threads=1)
share_onnx_threads(2)
share_onnx_threads(1)  # the first size stays
shared = [Predictor(sys.argv[1], run_mode='onnxruntime', cpu_threads=1) for _ in range(2)]
print(own._session.get_session_options().use_per_session_threads,
      [p._session.get_session_options().use_per_session_threads for p in shared])
image = np.random.default_rng(0).random((2, 3, 64, 48), np.float32)
outputs = [p.run({'image': image})[0] for p in [own] + shared]
print(max(float(np.abs(o - outputs[0]).max()) for o in outputs))
"""


def test_onnxruntime_sessions_share_one_pool_after_share_onnx_threads(keypoint_model_dir,
                                                                      tmp_path) -> None:
    """Run in a fresh process: the pool is process-wide onnxruntime state."""
    model_dir = _copy_with_onnx(keypoint_model_dir, str(tmp_path / 'kpt'))
    result = run_tool(['-c', SHARED_POOL_SCRIPT, model_dir])
    flags, max_diff = result.stdout.strip().splitlines()[-2:]
    assert flags == 'True [False, False]'
    assert float(max_diff) == 0.0


def test_deploy_scripts_share_the_pool_for_onnxruntime(monkeypatch, tmp_path) -> None:
    calls = []
    monkeypatch.setattr(io_utils, 'share_onnx_threads', calls.append)
    image = str(tmp_path / 'a.jpg')
    cv2.imwrite(image, np.zeros((8, 8, 3), np.uint8))
    for run_mode, expected in (('paddle', []), ('onnxruntime', [3])):
        args = argparse.Namespace(run_mode=run_mode, cpu_threads=3, image_file=image,
                                  image_dir=None, video_file=None, camera_id=-1,
                                  output_dir=str(tmp_path / 'out'))
        io_utils.run_on_input(args, lambda source: 'model', lambda model, source: None,
                              lambda model, files: files)
        assert calls == expected


def test_onnxruntime_run_mode_needs_the_onnx_file_and_the_cpu(detector_model_dir) -> None:
    with pytest.raises(FileNotFoundError, match='--onnx'):
        Predictor(detector_model_dir, run_mode='onnxruntime')
    with pytest.raises(ValueError, match='CPU only'):
        Predictor(detector_model_dir, device='gpu', run_mode='onnxruntime')


def test_onnxruntime_run_mode_without_onnxruntime_names_the_install(detector_model_dir,
                                                                    monkeypatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'onnxruntime' else real_find_spec(name, *a))
    with pytest.raises(ValueError, match='pip install onnxruntime'):
        Predictor(detector_model_dir, run_mode='onnxruntime')


def test_stage_timer_and_benchmark_report() -> None:
    timer = StageTimer()
    for _ in range(2):
        with timer.stage('det_infer'):
            pass
    timer.times['det_infer'] = [3.0, 5.0]
    assert list(timer.iterate('ab', 'read')) == ['a', 'b']
    assert len(timer.times['read']) == 3  # two items and the final, empty ``next``
    report = benchmark_report([timer], frames=4, seconds=2.0)
    assert set(report) == {'det_infer_ms', 'det_infer_ms_per_frame', 'read_ms',
                           'read_ms_per_frame', 'frames', 'fps', 'peak_memory_mb'}
    assert report['det_infer_ms'] == 4.0 and report['det_infer_ms_per_frame'] == 2.0
    assert report['fps'] == 2.0 and report['peak_memory_mb'] > 0
