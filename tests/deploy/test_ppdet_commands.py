"""PaddleDetection's det_keypoint_unite_infer.py command lines, run as scripts (subprocesses)
on the tiny exported models: the documented flags run unchanged, and a device or build that
cannot honour a flag ends with one error line and exit code 2."""
import json
import os
from typing import List

from tests.helpers import run_tool

UNITE = 'deploy/python/det_keypoint_unite_infer.py'


def _models(detector_model_dir: str, keypoint_model_dir: str) -> List[str]:
    return [f'--det_model_dir={detector_model_dir}', f'--keypoint_model_dir={keypoint_model_dir}']


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len([line for line in lines if 'error' in line.lower()]) == 1, stderr[-2000:]
    return lines[-1]


def test_documented_video_command_runs_unchanged(plier_data, tmp_path, detector_model_dir,
                                                 keypoint_model_dir) -> None:
    video = os.path.join(plier_data, 'video', 'demo.mp4')
    out = tmp_path / 'out'
    result = run_tool([UNITE, *_models(detector_model_dir, keypoint_model_dir),
                       f'--video_file={video}', '--device=CPU', '--smooth=True',
                       '--filter_type', 'OneEuro', '--save_res', 'True', '--run_benchmark',
                       'True', '--keypoint_batch_size', '8', '--det_threshold', '0.5',
                       '--keypoint_threshold', '0.5', '--enable_mkldnn', 'True', '--use_dark',
                       'False', '--cpu_threads', '1', '--run_mode', 'paddle', '--trt_min_shape',
                       '1', '--trt_max_shape', '1280', '--trt_opt_shape', '640',
                       '--trt_calib_mode', 'False', '--output_dir', str(out)])
    assert (out / 'demo.mp4').is_file() and 'fps' in result.stdout
    paddledet = json.loads((out / 'det_keypoint_unite_video_results.json').read_text())
    assert [entry[0] for entry in paddledet] == list(range(1, 13))
    saved = json.loads((out / 'demo_pose.json').read_text())
    assert saved['smooth'] is True and saved['complete'] is True and len(saved['frames']) == 12
    assert 'warning' not in result.stderr


def test_xpu_fails_in_one_line(tmp_path, detector_model_dir, keypoint_model_dir) -> None:
    result = run_tool([UNITE, *_models(detector_model_dir, keypoint_model_dir), '--image_file',
                       'x.jpg', '--device', 'XPU'], check=False)
    assert result.returncode == 2
    assert _error_line(result.stderr) == ('det_keypoint_unite_infer.py: error: --device XPU is '
                                          'not supported: ppkpt runs Paddle Inference on CPU or '
                                          'GPU only')


def test_gpu_without_a_visible_gpu_fails_in_one_line(plier_data, tmp_path, detector_model_dir,
                                                     keypoint_model_dir) -> None:
    """On the CPU wheel: no CUDA support; on a GPU wheel with the GPUs hidden: no GPU seen."""
    video = os.path.join(plier_data, 'video', 'demo.mp4')
    result = run_tool([UNITE, *_models(detector_model_dir, keypoint_model_dir), '--video_file',
                       video, '--device', 'GPU', '--run_mode', 'trt_fp16', '--output_dir',
                       str(tmp_path / 'out')], env_update={'CUDA_VISIBLE_DEVICES': ''},
                      check=False)
    assert result.returncode == 2
    assert _error_line(result.stderr).startswith('det_keypoint_unite_infer.py: error: '
                                                 '--device GPU: ')
    assert not (tmp_path / 'out' / 'demo.mp4').exists()


def test_missing_video_fails_in_one_line(tmp_path, detector_model_dir,
                                         keypoint_model_dir) -> None:
    missing = tmp_path / 'walk.mp4'
    result = run_tool([UNITE, *_models(detector_model_dir, keypoint_model_dir), '--video_file',
                       str(missing)], check=False)
    assert result.returncode == 2
    assert _error_line(result.stderr) == (f'det_keypoint_unite_infer.py: error: --video_file '
                                          f'not found (or not a file): {missing}')
