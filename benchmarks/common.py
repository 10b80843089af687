"""What the benchmarks share: fresh-process runs, the machine line, random-weight exports and
markdown tables.

Every figure is measured in a fresh process (``run_child``), so one setting's peak memory and
warm caches never leak into the next.
"""
import json
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Before anything imports paddle, which sets OMP_NUM_THREADS=1 when it is unset: ppkpt sets the
# core count instead, and every child process inherits this environment.
import ppkpt  # noqa: E402,F401


def config_path(name: str) -> str:
    """``configs/keypoint/tiny_pose/tinypose_128x96.yml`` for a path relative to the root."""
    return name if os.path.isabs(name) else os.path.join(ROOT, name)


def run_child(script: str, args: Sequence[str]) -> Dict[str, Any]:
    """Run ``python script args`` in a fresh process; returns the JSON on its last stdout line.

    Raises:
        RuntimeError: naming the command and its stderr tail when it fails.
    """
    command = [sys.executable, script, *args]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f'{" ".join(command)} failed ({out.returncode}):\n'
                           f'{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    """One line on the machine: CPU model, cores, threads, paddle and Python versions."""
    import paddle

    model = platform.processor() or 'unknown CPU'
    if os.path.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        model = names[0] if names else model
    return (f'{model}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}, '
            f'PaddlePaddle {paddle.__version__} ({"GPU" if paddle.is_compiled_with_cuda() else "CPU"} '
            f'wheel), Python {platform.python_version()}')


def export_config(config: str, out_dir: str, weights: Optional[str] = None,
                  onnx: bool = False) -> Dict[str, Any]:
    """Export the model of ``config`` (random weights unless ``weights``) as
    ``tools/export_model.py [--onnx]`` does; returns ``model_dir`` and the input
    ``image_shape`` [3, H, W]."""
    from ppkpt.core.workspace import load_config
    from ppkpt.engine.exporter import export_model, infer_cfg_from_config
    from ppkpt.engine.trainer import Trainer

    cfg = load_config(config_path(config))
    trainer = Trainer(cfg, 'test')
    if weights:
        trainer.load_weights(weights)
    model_dir = os.path.join(out_dir, cfg['filename'])
    image_shape = list(cfg['TestReader']['inputs_def']['image_shape'])
    export_model(trainer.model, infer_cfg_from_config(cfg), image_shape, model_dir, onnx=onnx)
    return {'model_dir': model_dir, 'image_shape': image_shape}


def table(header: List[str], rows: List[List[Any]]) -> str:
    """A markdown table; floats keep what the caller formatted (pass strings)."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    return '\n'.join(lines)
