"""Thread defaults, the shared CLI parser and the rank-aware logger."""
import os
import subprocess
import sys
import textwrap

from ppkpt.core import threads
import pytest

from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.core.logger import setup_logger
from ppkpt.core.workspace import ConfigError, load_config

PROBE = textwrap.dedent("""
    import os
    import ppkpt
    import paddle
    print(os.environ['OMP_NUM_THREADS'])
""")


def run_probe(env_update, drop=('OMP_NUM_THREADS',)):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_update)
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip().splitlines()[-1]


def test_omp_threads_default_to_core_count_and_user_value_wins():
    cores = len(os.sched_getaffinity(0))
    assert run_probe({}) == str(cores)
    assert run_probe({'OMP_NUM_THREADS': '1'}) == '1'
    assert run_probe({'PADDLE_TRAINERS_NUM': '2'}) == str(max(1, cores // 2))


def test_mkl_uses_avx2_kernels_on_amd_only_and_user_value_wins(monkeypatch):
    monkeypatch.delenv('MKL_DEBUG_CPU_TYPE', raising=False)
    monkeypatch.setattr(threads, 'cpu_vendor', lambda: 'GenuineIntel')
    threads.default_cpu_threads()
    assert 'MKL_DEBUG_CPU_TYPE' not in os.environ
    monkeypatch.setattr(threads, 'cpu_vendor', lambda: 'AuthenticAMD')
    threads.default_cpu_threads()
    assert os.environ['MKL_DEBUG_CPU_TYPE'] == '5'
    monkeypatch.setenv('MKL_DEBUG_CPU_TYPE', '4')
    threads.default_cpu_threads()
    assert os.environ['MKL_DEBUG_CPU_TYPE'] == '4'


def test_cpu_vendor_reads_proc_cpuinfo():
    with open('/proc/cpuinfo') as f:
        expected = next(l.split(':', 1)[1].strip() for l in f if l.startswith('vendor_id'))
    assert threads.cpu_vendor() == expected


def test_args_parser_shares_config_opt_and_seed(tmp_path):
    path = tmp_path / 'c.yml'
    path.write_text('epoch: 10\nTrainReader: {batch_size: 2}\n')
    parser = ArgsParser()
    parser.add_argument('--eval', action='store_true')
    args = parser.parse_args(['-c', str(path), '-o', 'epoch=3', 'TrainReader.batch_size=8',
                              '--seed', '7', '--eval'])
    assert (args.seed, args.eval) == (7, True)
    cfg = load_config(args.config, args.opt)
    assert cfg['epoch'] == 3 and cfg['TrainReader']['batch_size'] == 8
    assert load_config(args.config)['epoch'] == 10  # the file itself is unchanged


def test_exit_on_config_error_prints_one_line_and_exits_2(capsys):
    calls = []

    @exit_on_config_error
    def main(flag):
        calls.append(flag)
        if flag:
            raise ConfigError('bad key `epochh`.\n  Did you mean `epoch`?')
        return 'ok'

    assert main(False) == 'ok' and main.__name__ == 'main'
    with pytest.raises(SystemExit) as err:
        main(True)
    assert err.value.code == 2 and calls == [False, True]
    assert capsys.readouterr().err == 'ConfigError: bad key `epochh`. Did you mean `epoch`?\n'


def test_exit_on_config_error_lets_other_errors_through():
    @exit_on_config_error
    def main():
        raise KeyError('not a config error')

    with pytest.raises(KeyError, match='not a config error'):
        main()


def test_logger_has_timestamps_and_quiet_other_ranks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('PADDLE_TRAINER_ID', '1')
    quiet = setup_logger('ppkpt_test_rank1')
    quiet.info('hidden')
    quiet.warning('shown')
    monkeypatch.setenv('PADDLE_TRAINER_ID', '0')
    loud = setup_logger('ppkpt_test_rank0', output=str(tmp_path))
    loud.info('hello')
    out = capsys.readouterr().out
    assert 'hidden' not in out and 'shown' in out
    line = [l for l in out.splitlines() if 'hello' in l][0]
    assert line.startswith('[') and 'INFO: hello' in line
    assert 'hello' in (tmp_path / 'log.txt').read_text()
