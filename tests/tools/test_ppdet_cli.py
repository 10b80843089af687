"""PaddleDetection-style command lines run unchanged: train, eval, infer and export with the
flags as PaddleDetection documents them, then deploy/python/keypoint_infer.py on the export
(subprocesses on the tiny plier model). Flags ppkpt does not implement warn or fail in one
line."""
import importlib.util
import json
import os
from typing import Dict, List

import pytest

from helpers import PLIER_CONFIG, ROOT, run_tool, tiny_plier_options


def _options(data_dir: str, save_dir: str, *extra: str) -> List[str]:
    return ['-o', *tiny_plier_options(data_dir, save_dir), 'epoch=1', *extra]


def _warnings(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if ': warning: ' in line]


def _one_error_line(stderr: str) -> str:
    """The tool's one error line (the only line with ``error``), checked to be last."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if 'error' in line.lower()]
    assert len(errors) == 1 and errors[0] == lines[-1], stderr[-2000:]
    return errors[0]


def _load_tool(name: str):
    """Import ``tools/<name>.py`` (the tools folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f'ppdet_cli_{name}',
                                                  os.path.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def trained(plier_data: str, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """One epoch of ``tools/train.py`` with PaddleDetection's training flags."""
    save_dir = str(tmp_path_factory.mktemp('ppdet_train'))
    result = run_tool(['tools/train.py', '-c', PLIER_CONFIG, *_options(plier_data, save_dir),
                       '--eval', '--amp', '--use_vdl=False', '--enable_ce', 'True', '--fleet',
                       '--to_static', '--vdl_log_dir', os.path.join(save_dir, 'vdl')])
    return {'data': plier_data, 'save_dir': save_dir, 'stderr': result.stderr,
            'weights': os.path.join(save_dir, 'plier_5kp', 'model_final.pdparams')}


def test_train_runs_with_paddledetection_flags(trained) -> None:
    assert os.path.isfile(trained['weights'])
    assert os.path.isfile(os.path.join(trained['save_dir'], 'plier_5kp', 'best_model.pdparams'))
    warned = _warnings(trained['stderr'])
    assert any('--fleet is not implemented in ppkpt and is ignored' in line for line in warned)
    assert any('--to_static is not implemented in ppkpt and is ignored' in line
               for line in warned)


def test_train_slim_config_fails_in_one_line(plier_data, tmp_path) -> None:
    result = run_tool(['tools/train.py', '-c', PLIER_CONFIG, *_options(plier_data, str(tmp_path)),
                       '--slim_config', 'configs/slim/quant/tinypose_qat.yml'], check=False)
    assert result.returncode == 2
    assert _one_error_line(result.stderr).startswith(
        'train.py: error: --slim_config is not implemented in ppkpt')
    assert not os.path.exists(tmp_path / 'plier_5kp')


def test_eval_runs_with_paddledetection_flags(trained, tmp_path) -> None:
    result = run_tool(['tools/eval.py', '-c', PLIER_CONFIG,
                       *_options(trained['data'], str(tmp_path), f'weights={trained["weights"]}'),
                       '--output_eval', str(tmp_path / 'eval'), '--classwise',
                       '--save_prediction_only=False'])
    assert (tmp_path / 'eval' / 'keypoints_results.json').is_file()
    assert 'AP' in result.stdout + result.stderr
    assert [line.split(': warning: ')[1].split()[0] for line in _warnings(result.stderr)] == \
        ['--classwise']


@pytest.mark.parametrize('tool, flag', [('eval', '--json_eval'), ('eval', '--bias'),
                                        ('eval', '--slice_infer'), ('infer', '--do_eval=True'),
                                        ('export', '--export_serving_model=True'),
                                        ('export', '--for_fd')])
def test_result_changing_tool_flags_fail_in_one_line(tool, flag, capsys) -> None:
    parser = _load_tool('export_model' if tool == 'export' else tool).build_parser()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(['-c', PLIER_CONFIG, flag])
    assert exit_info.value.code == 2
    name = flag.split('=')[0]
    assert f'error: {name} is not implemented in ppkpt' in _one_error_line(capsys.readouterr().err)


def test_infer_runs_with_paddledetection_flags(trained, tmp_path) -> None:
    image_dir = os.path.join(trained['data'], 'images', 'val')
    names = tmp_path / 'list.txt'
    names.write_text('000000.jpg\n\n000001.jpg\n')
    out = tmp_path / 'out'
    result = run_tool(['tools/infer.py', '-c', PLIER_CONFIG,
                       *_options(trained['data'], str(tmp_path), f'weights={trained["weights"]}'),
                       '--infer_dir', image_dir, '--infer_list', str(names), '--output_dir',
                       str(out), '--draw_threshold', '0.5', '--visualize', 'False',
                       '--save_results', 'True', '--use_vdl', 'True', '--save_threshold', '0.5'])
    saved = json.loads((out / 'keypoints.json').read_text())
    assert [os.path.basename(r['image_file']) for r in saved['results']] == \
        ['000000.jpg', '000001.jpg']
    assert sorted(os.listdir(out)) == ['keypoints.json']  # --visualize False: no overlays
    warned = ' '.join(_warnings(result.stderr))
    assert '--use_vdl is not implemented' in warned and '--save_threshold' in warned


def test_export_then_keypoint_infer_with_paddledetection_flags(trained, tmp_path) -> None:
    run_tool(['tools/export_model.py', '-c', PLIER_CONFIG,
              *_options(trained['data'], str(tmp_path), f'weights={trained["weights"]}'),
              '--output_dir', str(tmp_path / 'inference'), '--export_serving_model=False',
              '--for_fd', 'False'])
    model_dir = tmp_path / 'inference' / 'plier_5kp'
    assert (model_dir / 'infer_cfg.yml').is_file()
    image = os.path.join(trained['data'], 'images', 'val', '000000.jpg')
    out = tmp_path / 'out'
    result = run_tool(['deploy/python/keypoint_infer.py', f'--model_dir={model_dir}',
                       f'--image_file={image}', '--device=CPU', '--run_mode=paddle',
                       '--batch_size=1', '--threshold=0.5', '--run_benchmark=True',
                       '--enable_mkldnn=False', '--cpu_threads=1', '--use_dark=False',
                       '--trt_calib_mode=False', '--save_results', f'--output_dir={out}',
                       '--save_mot_txts'])
    saved = json.loads((out / 'keypoint_results.json').read_text())
    assert saved['num_joints'] == 5 and len(saved['results'][0]['persons']) == 1
    assert (out / '000000.jpg').is_file() and 'kpt_infer_ms' in result.stdout
    assert [line.split(': warning: ')[1].split()[0] for line in _warnings(result.stderr)] == \
        ['--save_mot_txts']


@pytest.mark.parametrize('words, seed', [(['--enable_ce'], 0), (['--enable_ce', 'True'], 0),
                                         (['--enable_ce=False'], None),
                                         (['--enable_ce', '--seed', '5'], 5),
                                         (['--seed', '5', '--enable_ce'], 5)])
def test_enable_ce_seeds_with_zero_unless_a_seed_is_given(words, seed) -> None:
    from ppkpt.core.cli import ArgsParser

    parser = ArgsParser(tool='train')
    parser.add_bool('--enable_ce')
    parser.add_bool('--eval')
    args = parser.parse_args(['-c', PLIER_CONFIG, '-o', 'epoch=1', *words, '--eval', 'false'])
    assert args.seed == seed and args.eval is False and args.opt == ['epoch=1']
