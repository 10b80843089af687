"""Predictor: file checks before any work, infer_cfg parsing, feeding by name."""
import os
import shutil

import numpy as np
import pytest

from deploy.python.predictor import (Predictor, StageTimer, benchmark_report, find_model_files,
                                     load_infer_cfg)


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
    options = onnx._session.get_session_options()
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    assert sorted(onnx.input_names) == sorted(paddle_predictor.input_names)
    image = np.random.default_rng(0).random((2, 3, 64, 48), np.float32)  # the stand-in's input
    (got,), (expected,) = onnx.run({'image': image}), paddle_predictor.run({'image': image})
    assert got.shape == (2, 3, 16, 12)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match='image'):
        onnx.run({})


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
