"""Paddle Inference predictor, ``infer_cfg.yml`` reader and per-stage timers.

Every option is an explicit argument (TensorRT's in :class:`TensorRTOptions`); nothing reads
module-level flags, so the classes can be used as a library.
"""
import importlib.util
import os
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, TypeVar

import numpy as np
import yaml

from ppkpt.core.cli import OptionError
from ppkpt.metadata import CONFIG_KEYS

__all__ = ['InferConfig', 'Predictor', 'StageTimer', 'TensorRTOptions', 'check_build',
           'check_options', 'configure_tensorrt', 'find_model_files', 'load_infer_cfg',
           'peak_memory_mb', 'benchmark_report', 'RUN_MODES', 'DEVICES', 'TRT_PRECISIONS',
           'ONNX_FILE', 'onnx_session', 'share_onnx_threads']

RUN_MODES = ('paddle', 'trt_fp32', 'trt_fp16', 'trt_int8', 'onnxruntime')
DEVICES = ('cpu', 'gpu')
T = TypeVar('T')
_END = object()

TRT_PRECISIONS = {'trt_fp32': 'Float32', 'trt_fp16': 'Half', 'trt_int8': 'Int8'}
"""run_mode -> ``paddle.inference.PrecisionType`` member."""
_TRT_WORKSPACE = 1 << 30
_DETECTOR_AUX_INPUTS = ('im_shape', 'scale_factor')
_PROGRAM_FILES = ('model.json', 'model.pdmodel')
_PARAMS_FILE = 'model.pdiparams'
ONNX_FILE = 'model.onnx'
"""What ``tools/export_model.py --onnx`` writes beside the Paddle program; ``--run_mode
onnxruntime`` runs it."""
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
        min_subgraph_size: smallest subgraph TensorRT takes over (PaddleDetection writes it;
            3 when absent).
        use_dynamic_shape: the image input has a free height and width (PaddleDetection writes
            it); TensorRT then gets ``--trt_min/opt/max_shape``.
    """

    arch: str
    preprocess: List[Dict[str, Any]]
    label_list: List[str] = field(default_factory=list)
    use_dark: bool = True
    codec: Dict[str, Any] = field(default_factory=dict)
    flip_test: bool = False
    metadata: Dict[str, Any] = field(default_factory=dict)
    min_subgraph_size: int = 3
    use_dynamic_shape: bool = False


@dataclass(frozen=True)
class TensorRTOptions:
    """PaddleDetection's TensorRT options (the deploy ``--trt_*`` flags), used with a
    ``trt_*`` run mode.

    Attributes:
        min_shape: smallest image side of a dynamic-shape model (``--trt_min_shape``).
        max_shape: largest image side (``--trt_max_shape``).
        opt_shape: image side TensorRT optimises for (``--trt_opt_shape``).
        calib_mode: the model was produced by TensorRT offline int8 calibration
            (``--trt_calib_mode``).
        collect_shape_info: record the input shape ranges of this run into
            ``tuned_shape_file`` (``--collect_trt_shape_info``).
        tuned_shape_file: shape-range file (``--tuned_trt_shape_file``); when it exists and
            ``collect_shape_info`` is off, TensorRT uses its ranges.
    """

    min_shape: int = 1
    max_shape: int = 1280
    opt_shape: int = 640
    calib_mode: bool = False
    collect_shape_info: bool = False
    tuned_shape_file: str = 'shape_range_info.pbtxt'

    def dynamic_shapes(self, batch_size: int) -> Tuple[Dict[str, List[int]], ...]:
        """(min, max, opt) input shapes of a dynamic-shape model, as PaddleDetection sets
        them: ``image`` [batch, 3, side, side] and the detector's [batch, 2] inputs."""
        def shapes(side: int) -> Dict[str, List[int]]:
            aux = {name: [batch_size, 2] for name in _DETECTOR_AUX_INPUTS}
            return {'image': [batch_size, 3, side, side], **aux}

        return shapes(self.min_shape), shapes(self.max_shape), shapes(self.opt_shape)


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
                       metadata=metadata, min_subgraph_size=int(raw.get('min_subgraph_size', 3)),
                       use_dynamic_shape=bool(raw.get('use_dynamic_shape', False)))


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


def check_options(device: str, run_mode: str) -> str:
    """The lower-cased device, after checking ``device`` and ``run_mode`` (no paddle needed).

    Raises:
        OptionError: an unknown device or run mode, or TensorRT without a GPU.
    """
    device = device.lower()
    if device not in DEVICES:
        raise OptionError(f'--device {device.upper()} is not supported: ppkpt runs Paddle '
                          f'Inference on CPU or GPU only')
    if run_mode not in RUN_MODES:
        raise OptionError(f'--run_mode must be one of {list(RUN_MODES)}, got {run_mode!r}')
    if run_mode == 'onnxruntime' and device != 'cpu':
        raise OptionError('--run_mode onnxruntime runs on --device CPU only')
    if run_mode.startswith('trt_') and device != 'gpu':
        raise OptionError(f'--run_mode {run_mode} needs --device GPU: TensorRT runs on NVIDIA '
                          f'GPUs only')
    return device


def check_build(device: str, run_mode: str) -> None:
    """Check that this paddle build and machine can run ``device`` and ``run_mode``.

    Raises:
        OptionError: one line naming the flag: a GPU asked of a CPU build or a machine
            without a visible GPU, TensorRT asked of a build or machine without it, or
            onnxruntime asked without it installed.
    """
    if run_mode == 'onnxruntime' and importlib.util.find_spec('onnxruntime') is None:
        raise OptionError('--run_mode onnxruntime: onnxruntime is not installed '
                          '(pip install onnxruntime)')
    if device != 'gpu':
        return
    import paddle
    from paddle import inference
    if not paddle.is_compiled_with_cuda():
        raise OptionError('--device GPU: this paddle build has no CUDA support (the CPU '
                          'wheel); install paddlepaddle-gpu or use --device CPU')
    if paddle.device.cuda.device_count() < 1:
        raise OptionError('--device GPU: paddle sees no GPU on this machine (check the driver '
                          'and CUDA_VISIBLE_DEVICES); use --device CPU')
    if run_mode == 'paddle':
        return
    if tuple(inference.get_trt_compile_version()) == (0, 0, 0):
        raise OptionError(f'--run_mode {run_mode}: this paddle build has no TensorRT support; '
                          f'use --run_mode paddle or a paddle build with TensorRT')
    try:
        runtime = tuple(inference.get_trt_runtime_version())
    except Exception as err:  # paddle raises its own error types when libnvinfer is missing
        raise OptionError(f'--run_mode {run_mode}: the TensorRT libraries cannot be loaded '
                          f'({type(err).__name__}: {err})') from err
    if runtime == (0, 0, 0):
        raise OptionError(f'--run_mode {run_mode}: the TensorRT libraries (libnvinfer) were not '
                          f'found at run time; install the TensorRT this paddle was built with')


def configure_tensorrt(config: Any, precision: Any, batch_size: int, infer_cfg: InferConfig,
                       options: TensorRTOptions) -> None:
    """Turn the TensorRT engine on in a ``paddle.inference.Config`` with explicit options.

    As PaddleDetection's deploy does: the engine with ``infer_cfg.min_subgraph_size``; with
    ``collect_shape_info`` the run records the input shape ranges into the tuned shape file,
    else an existing tuned shape file gives the dynamic shapes, else a dynamic-shape model gets
    :meth:`TensorRTOptions.dynamic_shapes`.

    Args:
        config: the predictor config.
        precision: a ``paddle.inference.PrecisionType`` member.
        batch_size: largest batch.
        infer_cfg: the model's ``infer_cfg.yml``.
        options: the TensorRT options.
    """
    config.enable_tensorrt_engine(workspace_size=_TRT_WORKSPACE, max_batch_size=batch_size,
                                  min_subgraph_size=infer_cfg.min_subgraph_size,
                                  precision_mode=precision, use_static=False,
                                  use_calib_mode=options.calib_mode)
    if options.collect_shape_info:
        config.collect_shape_range_info(options.tuned_shape_file)
    elif os.path.isfile(options.tuned_shape_file):
        config.enable_tuned_tensorrt_dynamic_shape(options.tuned_shape_file, True)
    elif infer_cfg.use_dynamic_shape:
        config.set_trt_dynamic_shape_info(*options.dynamic_shapes(batch_size))


_ONNX_POOL: Dict[str, int] = {}
"""``threads``: the size of this process's shared onnxruntime thread pool, once it is made."""


def share_onnx_threads(cpu_threads: int) -> None:
    """From now on, run every onnxruntime session this module makes in one thread pool of
    ``cpu_threads`` for the whole process (a later call keeps the first size).

    The deploy scripts call it for ``--run_mode onnxruntime``: their video pipelines alternate
    a detector and a keypoint session, and with a pool each the idle session's threads spin
    after its run and take the cores from the busy one, while without spinning every small op
    pays to wake its threads. One shared pool does neither (TinyPose + the demo detector in
    fast mode: 48.8 FPS against 33.9 with a pool per session without spinning and 24.1 with
    spinning, docs/deploy.md). It is onnxruntime's global pool: any other session the process
    makes afterwards must set ``SessionOptions.use_per_session_threads = False``
    (:func:`onnx_session` does).
    """
    if 'threads' not in _ONNX_POOL:
        import onnxruntime
        onnxruntime.set_global_thread_pool_sizes(cpu_threads, 1)
        _ONNX_POOL['threads'] = cpu_threads


def onnx_session(path: str, cpu_threads: int) -> Any:
    """An onnxruntime CPU session of the ONNX file ``path``: in the shared pool after
    :func:`share_onnx_threads`, else with ``cpu_threads`` threads of its own."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if 'threads' in _ONNX_POOL:
        options.use_per_session_threads = False
    else:
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # paddle2onnx leaves unused initialisers: not worth a line each
    return onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def _onnx_session(model_dir: str, cpu_threads: int) -> Any:
    """:func:`onnx_session` of ``model_dir/model.onnx``.

    Raises:
        FileNotFoundError: when the directory has no ``model.onnx``.
    """
    path = os.path.join(model_dir, ONNX_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} not found: --run_mode onnxruntime needs the ONNX '
                                f'model; export with tools/export_model.py ... --onnx')
    return onnx_session(path, cpu_threads)


class Predictor:
    """A Paddle Inference predictor (or an onnxruntime session) for one exported model
    directory.

    The directory holds ``model.json`` (PIR) or ``model.pdmodel``, ``model.pdiparams`` and
    ``infer_cfg.yml``. The options and all files are checked before a model is loaded.

    Args:
        model_dir: exported model directory.
        device: ``'cpu'`` or ``'gpu'`` (any case).
        run_mode: ``'paddle'``, ``'trt_fp32'``, ``'trt_fp16'`` or ``'trt_int8'`` (TensorRT
            needs ``device='gpu'`` and a paddle build with TensorRT), or ``'onnxruntime'``
            (CPU: runs ``model.onnx`` from ``tools/export_model.py --onnx`` in onnxruntime,
            whose small-kernel overhead is far lower than Paddle Inference's on light models;
            ``enable_mkldnn`` is then unused).
        cpu_threads: math library threads on CPU.
        enable_mkldnn: use oneDNN kernels on CPU.
        batch_size: largest batch the predictor will see (sizes TensorRT engines).
        trt: TensorRT options for a ``trt_*`` run mode; the defaults when None.

    Raises:
        OptionError: see :func:`check_options` and :func:`check_build`.
        FileNotFoundError: a missing directory or model file.
    """

    def __init__(self, model_dir: str, device: str = 'cpu', run_mode: str = 'paddle',
                 cpu_threads: int = 2, enable_mkldnn: bool = True, batch_size: int = 1,
                 trt: Optional[TensorRTOptions] = None) -> None:
        device = check_options(device, run_mode)
        if cpu_threads < 1 or batch_size < 1:
            raise OptionError(f'cpu_threads and batch_size must be >= 1, got {cpu_threads}, '
                              f'{batch_size}')
        program, params = find_model_files(model_dir)
        self.model_dir = model_dir
        self.infer_cfg = load_infer_cfg(model_dir)
        self.batch_size = batch_size
        check_build(device, run_mode)
        if run_mode == 'onnxruntime':
            self._session = _onnx_session(model_dir, cpu_threads)
            self._predictor = None
            self.input_names = [node.name for node in self._session.get_inputs()]
            self.output_names = [node.name for node in self._session.get_outputs()]
            return
        self._predictor = self._create(program, params, device, run_mode, cpu_threads,
                                       enable_mkldnn, trt or TensorRTOptions())
        self.input_names: List[str] = list(self._predictor.get_input_names())
        self.output_names: List[str] = list(self._predictor.get_output_names())

    def _create(self, program: str, params: str, device: str, run_mode: str, cpu_threads: int,
                enable_mkldnn: bool, trt: TensorRTOptions) -> Any:
        from paddle import inference
        config = inference.Config(program, params)
        if device == 'gpu':
            config.enable_use_gpu(200, 0)
            config.switch_ir_optim(True)
            if run_mode != 'paddle':
                precision = getattr(inference.PrecisionType, TRT_PRECISIONS[run_mode])
                configure_tensorrt(config, precision, self.batch_size, self.infer_cfg, trt)
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
        if self._predictor is None:
            return self._session.run(self.output_names, {
                name: np.ascontiguousarray(inputs[name]) for name in self.input_names})
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

    def iterate(self, items: Iterable[T], name: str) -> Iterator[T]:
        """The items of ``items``, each ``next`` timed under ``name`` (e.g. decoding frames)."""
        iterator = iter(items)
        while True:
            with self.stage(name):
                item = next(iterator, _END)
            if item is _END:
                return
            yield item

    def summary(self) -> Dict[str, float]:
        """Mean milliseconds per call for every stage."""
        return {name: float(np.mean(values)) for name, values in self.times.items() if values}

    def totals(self) -> Dict[str, float]:
        """Total milliseconds of every stage."""
        return {name: float(np.sum(values)) for name, values in self.times.items() if values}


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark_report(timers: List[StageTimer], frames: int, seconds: float) -> Dict[str, float]:
    """Mean ms per call (``<stage>_ms``) and per frame (``<stage>_ms_per_frame``) of every
    stage of every timer, frames, frames per second and peak memory (MiB)."""
    report: Dict[str, float] = {}
    for timer in timers:
        report.update({f'{name}_ms': round(ms, 3) for name, ms in timer.summary().items()})
        report.update({f'{name}_ms_per_frame': round(ms / max(frames, 1), 3)
                       for name, ms in timer.totals().items()})
    report.update(frames=frames, fps=round(frames / seconds, 3) if seconds > 0 else 0.0,
                  peak_memory_mb=round(peak_memory_mb(), 1))
    return report
