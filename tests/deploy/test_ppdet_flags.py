"""PaddleDetection's deploy flag syntax: booleans in every spelling, --device in any case, the
TensorRT flags passed explicitly, and the flags ppkpt does not implement (warn or fail)."""
import types

import pytest

from deploy.python import det_keypoint_unite_infer as unite
from deploy.python import keypoint_infer
from deploy.python.io_utils import trt_options
from deploy.python.predictor import (InferConfig, TensorRTOptions, check_build,
                                     configure_tensorrt)
from ppkpt.core.cli import OptionError

MODELS = ['--det_model_dir', 'det', '--keypoint_model_dir', 'kpt']


def _parse(*extra: str):
    return unite.build_parser().parse_args(MODELS + list(extra))


@pytest.mark.parametrize('words, expected', [
    ([], False),
    (['--smooth'], True),
    (['--smooth', 'True'], True),
    (['--smooth', 'true'], True),
    (['--smooth=true'], True),
    (['--smooth=TRUE'], True),
    (['--smooth', 'False'], False),
    (['--smooth=false'], False),
    (['--smooth', '1'], True),
    (['--smooth', 'no'], False),
    (['--smoo', 'True'], True),  # an abbreviation, as argparse allows
])
def test_bool_flag_spellings(words, expected) -> None:
    assert _parse(*words).smooth is expected


def test_paddledetection_bool_values_with_equals_and_spaces() -> None:
    args = _parse('--save_res=True', '--run_benchmark', 'False', '--enable_mkldnn=True',
                  '--use_dark=False', '--smooth', 'True', '--trt_calib_mode', 'False')
    assert args.save_res is True and args.run_benchmark is False
    assert args.enable_mkldnn is True and args.use_dark is False and args.smooth is True
    assert args.trt_calib_mode is False  # PaddleDetection's type=bool would read True here


def test_the_issue_command_line_parses() -> None:
    args = _parse('--device', 'CPU', '--smooth', 'True', '--save_res', 'True',
                  '--run_benchmark', 'True')
    assert (args.device, args.smooth, args.save_res, args.run_benchmark) == \
        ('cpu', True, True, True)


def test_a_bare_bool_flag_leaves_the_next_word_alone(capsys) -> None:
    args = _parse('--smooth', '--video_file', 'walk.mp4', '--save_res')
    assert args.smooth is True and args.save_res is True and args.video_file == 'walk.mp4'
    with pytest.raises(SystemExit) as exit_info:
        _parse('--save_res', 'walk.mp4')
    assert exit_info.value.code == 2
    assert 'unrecognized arguments: walk.mp4' in capsys.readouterr().err


def test_a_bad_bool_value_names_the_flag(capsys) -> None:
    with pytest.raises(SystemExit):
        _parse('--smooth=maybe')
    assert "argument --smooth: expected true or false, got 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize('spelling', ['CPU', 'cpu', 'Cpu', 'GPU', 'gpu'])
def test_device_in_any_case(spelling) -> None:
    assert _parse('--device', spelling).device == spelling.lower()


@pytest.mark.parametrize('device', ['XPU', 'npu'])
def test_xpu_and_npu_fail_in_one_line(device, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse('--device', device)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f'error: --device {device.upper()} is not supported: ppkpt runs Paddle Inference ' \
           f'on CPU or GPU only' in err


def test_trt_flags_have_paddledetection_defaults_and_reach_the_options() -> None:
    assert trt_options(_parse()) == TensorRTOptions(1, 1280, 640, False, False,
                                                    'shape_range_info.pbtxt')
    args = _parse('--device', 'GPU', '--run_mode', 'trt_int8', '--trt_min_shape', '32',
                  '--trt_max_shape', '960', '--trt_opt_shape', '320', '--trt_calib_mode=True',
                  '--collect_trt_shape_info', '--tuned_trt_shape_file', 'shapes.pbtxt')
    assert trt_options(args) == TensorRTOptions(32, 960, 320, True, True, 'shapes.pbtxt')


@pytest.mark.parametrize('mode', ['trt_fp32', 'trt_fp16', 'trt_int8'])
def test_tensorrt_without_gpu_fails_in_one_line(mode, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse('--run_mode', mode, '--device', 'CPU')
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f'--run_mode {mode} needs --device GPU' in err


def test_trt_flag_without_trt_run_mode_warns(capsys) -> None:
    _parse('--trt_max_shape', '960')
    assert '--trt_max_shape only applies with --run_mode trt_fp32/trt_fp16/trt_int8; ignored' \
        in capsys.readouterr().err


@pytest.mark.parametrize('words, flag', [
    (['--save_mot_txts'], '--save_mot_txts'),
    (['--tracker_config', 'tracker.yml'], '--tracker_config'),
    (['--reid_model_dir', 'reid'], '--reid_model_dir'),
    (['--action_file', 'a.txt'], '--action_file'),
    (['--use_coco_category'], '--use_coco_category'),
    (['--slice_size', '640', '640'], '--slice_size'),
])
def test_harmless_unimplemented_flags_warn(words, flag, capsys) -> None:
    _parse(*words)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f'warning: {flag} is not implemented in ppkpt and is ignored' \
        in lines[0]


@pytest.mark.parametrize('words, flag', [
    (['--slice_infer'], '--slice_infer'),
    (['--enable_mkldnn_bfloat16=True'], '--enable_mkldnn_bfloat16'),
    (['--use_fd_format'], '--use_fd_format'),
    (['--use_gpu', 'True'], '--use_gpu'),
])
def test_result_changing_unimplemented_flags_fail(words, flag, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse(*words)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f'error: {flag} is not implemented in ppkpt' in err


def test_unimplemented_bool_flag_set_false_is_silent(capsys) -> None:
    _parse('--use_gpu', 'False', '--enable_mkldnn_bfloat16=false', '--slice_infer', 'False')
    assert capsys.readouterr().err == ''


def test_keypoint_infer_takes_the_paddledetection_utils_flags() -> None:
    args = keypoint_infer.build_parser().parse_args(
        ['--model_dir', 'm', '--image_file', 'a.jpg', '--batch_size', '1', '--threshold', '0.5',
         '--run_mode', 'paddle', '--device', 'CPU', '--run_benchmark', 'False',
         '--enable_mkldnn', 'True', '--cpu_threads', '1', '--use_dark=True', '--save_images',
         'False', '--save_results'])
    assert (args.device, args.run_benchmark, args.enable_mkldnn, args.use_dark,
            args.save_images, args.save_results) == ('cpu', False, True, True, False, True)


class _RecordingConfig:
    """Stands in for ``paddle.inference.Config``: records every call."""

    def __init__(self) -> None:
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_configure_tensorrt_passes_every_option_explicitly(tmp_path) -> None:
    cfg = InferConfig(arch='CenterNet', preprocess=[], min_subgraph_size=5,
                      use_dynamic_shape=True)
    options = TensorRTOptions(min_shape=32, max_shape=960, opt_shape=320, calib_mode=True,
                              tuned_shape_file=str(tmp_path / 'absent.pbtxt'))
    config = _RecordingConfig()
    configure_tensorrt(config, 'INT8', 4, cfg, options)
    (engine, engine_args, engine_kwargs), (dynamic, shapes, _) = config.calls
    assert engine == 'enable_tensorrt_engine' and engine_args == ()
    assert engine_kwargs == {'workspace_size': 1 << 30, 'max_batch_size': 4,
                             'min_subgraph_size': 5, 'precision_mode': 'INT8',
                             'use_static': False, 'use_calib_mode': True}
    assert dynamic == 'set_trt_dynamic_shape_info'
    assert [s['image'] for s in shapes] == [[4, 3, 32, 32], [4, 3, 960, 960], [4, 3, 320, 320]]
    assert shapes[0]['scale_factor'] == [4, 2]


def test_configure_tensorrt_collects_or_uses_the_shape_file(tmp_path) -> None:
    shape_file = tmp_path / 'shape_range_info.pbtxt'
    cfg = InferConfig(arch='TopDownHRNet', preprocess=[])
    collect = _RecordingConfig()
    configure_tensorrt(collect, 'FP16', 1, cfg, TensorRTOptions(
        collect_shape_info=True, tuned_shape_file=str(shape_file)))
    assert collect.calls[1] == ('collect_shape_range_info', (str(shape_file),), {})
    shape_file.write_text('collected')
    tuned = _RecordingConfig()
    configure_tensorrt(tuned, 'FP16', 1, cfg, TensorRTOptions(tuned_shape_file=str(shape_file)))
    assert tuned.calls[1] == ('enable_tuned_tensorrt_dynamic_shape', (str(shape_file), True), {})
    fixed = _RecordingConfig()
    configure_tensorrt(fixed, 'FP16', 1, cfg, TensorRTOptions(
        tuned_shape_file=str(tmp_path / 'none.pbtxt')))
    assert [name for name, _, _ in fixed.calls] == ['enable_tensorrt_engine']


def _fake_paddle(monkeypatch, cuda: bool, gpus: int, trt_compiled, trt_runtime) -> None:
    import paddle
    from paddle import inference

    monkeypatch.setattr(paddle, 'is_compiled_with_cuda', lambda: cuda)
    monkeypatch.setattr(paddle.device, 'cuda', types.SimpleNamespace(device_count=lambda: gpus))
    monkeypatch.setattr(inference, 'get_trt_compile_version', lambda: trt_compiled)
    monkeypatch.setattr(inference, 'get_trt_runtime_version', lambda: trt_runtime)


@pytest.mark.parametrize('cuda, gpus, compiled, runtime, mode, message', [
    (False, 0, (0, 0, 0), (0, 0, 0), 'paddle',
     '--device GPU: this paddle build has no CUDA support (the CPU wheel)'),
    (True, 0, (8, 6, 1), (8, 6, 1), 'paddle', '--device GPU: paddle sees no GPU'),
    (True, 1, (0, 0, 0), (0, 0, 0), 'trt_fp16',
     '--run_mode trt_fp16: this paddle build has no TensorRT support'),
    (True, 1, (8, 6, 1), (0, 0, 0), 'trt_int8',
     '--run_mode trt_int8: the TensorRT libraries (libnvinfer) were not found'),
])
def test_check_build_names_the_flag_the_build_cannot_honour(monkeypatch, cuda, gpus, compiled,
                                                            runtime, mode, message) -> None:
    _fake_paddle(monkeypatch, cuda, gpus, compiled, runtime)
    with pytest.raises(OptionError, match=message.replace('(', r'\(').replace(')', r'\)')):
        check_build('gpu', mode)


def test_check_build_passes_a_capable_build_and_cpu(monkeypatch) -> None:
    _fake_paddle(monkeypatch, True, 1, (8, 6, 1), (8, 6, 1))
    check_build('gpu', 'trt_fp32')
    check_build('cpu', 'paddle')


def test_gpu_on_a_cpu_build_fails_before_loading(monkeypatch, keypoint_model_dir) -> None:
    _fake_paddle(monkeypatch, False, 0, (0, 0, 0), (0, 0, 0))
    with pytest.raises(OptionError, match='--device GPU'):
        keypoint_infer.KeypointDetector(keypoint_model_dir, device='GPU')
