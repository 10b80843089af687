"""Paddle Inference predictor, ``infer_cfg.yml`` reader and per-stage timers.

Every option is an explicit argument; nothing reads module-level flags, so the classes can be
used as a library.
"""
import os
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import yaml

from ppkpt.metadata import CONFIG_KEYS

__all__ = ['InferConfig', 'Predictor', 'StageTimer', 'find_model_files', 'load_infer_cfg',
           'peak_memory_mb', 'benchmark_report', 'RUN_MODES', 'DEVICES']

RUN_MODES = ('paddle', 'trt_fp32', 'trt_fp16')
DEVICES = ('cpu', 'gpu')
_PROGRAM_FILES = ('model.json', 'model.pdmodel')
_PARAMS_FILE = 'model.pdiparams'
_CFG_FILE = 'infer_cfg.yml'


@dataclass
class InferConfig:
    """The fields of ``infer_cfg.yml`` that deploy code reads.

    Attributes:
        arch: architecture name written at export (e.g. ``TopDownHRNet``, ``CenterNet``).
        preprocess: list of ``{type: OpName, **args}`` ops, applied in order.
        label_list: class names.
        use_dark: DARK decoding for keypoint heatmaps (read by exports without a ``codec``).
        codec: ``KeypointCodec.to_config()`` of a keypoint model; empty for detectors and for
            PaddleDetection exports.
        flip_test: the keypoint model was evaluated with flip test (False for exports that do
            not say, as PaddleDetection's deploy never flips).
        metadata: the keypoint metadata keys (``num_joints``, ``keypoint_names``, ``flip_perm``,
            ``skeleton``, ``sigmas``, ...); empty for detectors.
    """

    arch: str
    preprocess: List[Dict[str, Any]]
    label_list: List[str] = field(default_factory=list)
    use_dark: bool = True
    codec: Dict[str, Any] = field(default_factory=dict)
    flip_test: bool = False
    metadata: Dict[str, Any] = field(default_factory=dict)


def load_infer_cfg(model_dir: str) -> InferConfig:
    """Read ``model_dir/infer_cfg.yml``.

    Raises:
        FileNotFoundError: when the file is missing.
        ValueError: when ``arch`` or ``Preprocess`` is missing or malformed.
    """
    path = os.path.join(model_dir, _CFG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'infer config not found: {path}')
    with open(path, encoding='utf-8') as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw, dict) or 'arch' not in raw:
        raise ValueError(f'{path}: missing key `arch`')
    preprocess = raw.get('Preprocess', [])
    if not isinstance(preprocess, list) or not all(
            isinstance(op, dict) and 'type' in op for op in preprocess):
        raise ValueError(f'{path}: `Preprocess` must be a list of {{type: OpName, ...}} mappings')
    metadata = {key: raw[key] for key in CONFIG_KEYS.values() if raw.get(key) is not None}
    return InferConfig(arch=str(raw['arch']), preprocess=preprocess,
                       label_list=list(raw.get('label_list') or []),
                       use_dark=bool(raw.get('use_dark', True)), codec=dict(raw.get('codec') or {}),
                       flip_test=bool(raw.get('flip_test', False)),
                       metadata=metadata)


def find_model_files(model_dir: str) -> Tuple[str, str]:
    """Locate the program (``model.json`` for PIR, else ``model.pdmodel``) and the parameters.

    Raises:
        FileNotFoundError: naming the missing directory or file.
    """
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f'model directory not found: {model_dir}')
    programs = [os.path.join(model_dir, name) for name in _PROGRAM_FILES]
    program = next((path for path in programs if os.path.isfile(path)), None)
    if program is None:
        raise FileNotFoundError(f'no model program in {model_dir}: expected one of '
                                f'{list(_PROGRAM_FILES)}')
    params = os.path.join(model_dir, _PARAMS_FILE)
    if not os.path.isfile(params):
        raise FileNotFoundError(f'model parameters not found: {params}')
    return program, params


class Predictor:
    """A Paddle Inference predictor for one exported model directory.

    The directory holds ``model.json`` (PIR) or ``model.pdmodel``, ``model.pdiparams`` and
    ``infer_cfg.yml``. All files are checked before paddle is touched.

    Args:
        model_dir: exported model directory.
        device: ``'cpu'`` or ``'gpu'``.
        run_mode: ``'paddle'``, ``'trt_fp32'`` or ``'trt_fp16'`` (TensorRT needs ``device='gpu'``).
        cpu_threads: math library threads on CPU.
        enable_mkldnn: use oneDNN kernels on CPU.
        batch_size: largest batch the predictor will see (sizes TensorRT engines).
    """

    def __init__(self, model_dir: str, device: str = 'cpu', run_mode: str = 'paddle',
                 cpu_threads: int = 2, enable_mkldnn: bool = True, batch_size: int = 1) -> None:
        device = device.lower()
        if device not in DEVICES:
            raise ValueError(f'device must be one of {DEVICES}, got {device!r}')
        if run_mode not in RUN_MODES:
            raise ValueError(f'run_mode must be one of {RUN_MODES}, got {run_mode!r}')
        if run_mode != 'paddle' and device != 'gpu':
            raise ValueError(f'run_mode={run_mode!r} (TensorRT) needs device="gpu"')
        if cpu_threads < 1 or batch_size < 1:
            raise ValueError(f'cpu_threads and batch_size must be >= 1, got {cpu_threads}, '
                             f'{batch_size}')
        program, params = find_model_files(model_dir)
        self.model_dir = model_dir
        self.infer_cfg = load_infer_cfg(model_dir)
        self.batch_size = batch_size
        self._predictor = self._create(program, params, device, run_mode, cpu_threads,
                                       enable_mkldnn)
        self.input_names: List[str] = list(self._predictor.get_input_names())
        self.output_names: List[str] = list(self._predictor.get_output_names())

    def _create(self, program: str, params: str, device: str, run_mode: str, cpu_threads: int,
                enable_mkldnn: bool) -> Any:
        from paddle import inference
        config = inference.Config(program, params)
        if device == 'gpu':
            config.enable_use_gpu(200, 0)
            config.switch_ir_optim(True)
            if run_mode != 'paddle':
                precision = {'trt_fp32': inference.PrecisionType.Float32,
                             'trt_fp16': inference.PrecisionType.Half}[run_mode]
                config.enable_tensorrt_engine(workspace_size=1 << 30,
                                              max_batch_size=self.batch_size,
                                              min_subgraph_size=3, precision_mode=precision,
                                              use_static=False, use_calib_mode=False)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(cpu_threads)
            if enable_mkldnn:
                config.enable_mkldnn()
            else:
                config.disable_mkldnn()
        config.disable_glog_info()
        config.switch_use_feed_fetch_ops(False)
        return inference.create_predictor(config)

    def run(self, inputs: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """Feed ``inputs`` by name and return every output, in the predictor's output order.

        Raises:
            KeyError: when an input the model needs is missing from ``inputs``.
        """
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise KeyError(f'{self.model_dir}: model inputs {missing} not given; '
                           f'got {sorted(inputs)}')
        for name in self.input_names:
            handle = self._predictor.get_input_handle(name)
            array = np.ascontiguousarray(inputs[name])
            handle.reshape(list(array.shape))
            handle.copy_from_cpu(array)
        self._predictor.run()
        return [self._predictor.get_output_handle(name).copy_to_cpu()
                for name in self.output_names]


class StageTimer:
    """Wall-clock time per named stage, in milliseconds."""

    def __init__(self) -> None:
        self.times: Dict[str, List[float]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block under ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.times.setdefault(name, []).append(1000.0 * (time.perf_counter() - start))

    def summary(self) -> Dict[str, float]:
        """Mean milliseconds per call for every stage."""
        return {name: float(np.mean(values)) for name, values in self.times.items() if values}


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark_report(timers: List[StageTimer], frames: int, seconds: float) -> Dict[str, float]:
    """Mean ms per stage of every timer, frames, frames per second and peak memory (MiB)."""
    report: Dict[str, float] = {}
    for timer in timers:
        report.update({f'{name}_ms': round(ms, 3) for name, ms in timer.summary().items()})
    report.update(frames=frames, fps=round(frames / seconds, 3) if seconds > 0 else 0.0,
                  peak_memory_mb=round(peak_memory_mb(), 1))
    return report
