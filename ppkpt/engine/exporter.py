"""Export a model for Paddle Inference: static graph, parameters and ``infer_cfg.yml``.

A model is exportable when it has ``export_forward(*inputs)`` (tensors in, tensors out, pure
paddle ops) and ``export_input_spec(image_shape) -> List[InputSpec]``. With PIR (the default in
Paddle 3) the graph is written as ``model.json``, otherwise as ``model.pdmodel``; parameters go
to ``model.pdiparams``; with ``onnx`` an ONNX model goes to ``model.onnx``.
"""
import os
import tempfile
from typing import Any, Dict, List, Mapping, Optional

import paddle
import yaml

from ppkpt.core.workspace import build_object
from ppkpt.metadata import KeypointMeta
from ppkpt.modeling.layers import resize_upsampling

__all__ = ['export_model', 'build_infer_cfg', 'infer_cfg_from_config', 'export_onnx',
           'INFER_CFG_NAME']

INFER_CFG_NAME = 'infer_cfg.yml'
ONNX_NAME = 'model.onnx'
_DROPPED_OPS = ('Decode',)


class _ExportWrapper(paddle.nn.Layer):
    """Routes ``forward`` to the wrapped model's ``export_forward``.

    The inputs arrive as one list because dy2static cannot trace ``*args`` signatures; the
    graph inputs keep the names of the model's ``InputSpec`` entries.
    """

    def __init__(self, model: paddle.nn.Layer) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: List[paddle.Tensor]) -> Any:
        return self.model.export_forward(*inputs)


def _normalise_op(op: Mapping[str, Any], index: int) -> Dict[str, Any]:
    """``{type: Name, **args}`` from ``{type: Name, ...}`` or ``{Name: {args}}``."""
    if 'type' in op:
        return dict(op)
    if len(op) == 1:
        name, args = next(iter(op.items()))
        if args is None or isinstance(args, Mapping):
            return {'type': name, **dict(args or {})}
    raise ValueError(f'preprocess[{index}] must be {{type: OpName, ...}} or {{OpName: {{...}}}}, '
                     f'got {op!r}')


def build_infer_cfg(arch: str, mode: str = 'paddle', preprocess: Optional[List[dict]] = None,
                    label_list: Optional[List[str]] = None, metadata: Optional[dict] = None,
                    codec: Optional[Dict[str, Any]] = None, flip_test: bool = False,
                    draw_threshold: float = 0.5, **extra: Any) -> Dict[str, Any]:
    """The content of ``infer_cfg.yml``.

    Args:
        arch: architecture name (e.g. ``TopDownHRNet``, ``CenterNet``); deploy dispatches on it.
        mode: ``'paddle'``.
        preprocess: the TestReader sample transforms, as ``{type: Name, **args}`` or
            ``{Name: {args}}``; ``Decode`` is dropped.
        label_list: class names (``['keypoint']`` for keypoint models when None and
            ``metadata`` is given).
        metadata: ``KeypointMeta.to_dict()`` for keypoint models; None for detectors.
        codec: ``KeypointCodec.to_config()`` of a keypoint model; deploy rebuilds the codec
            from it. Its ``use_dark`` is also written at the top level, where PaddleDetection's
            deploy reads it.
        flip_test: the keypoint model's evaluation averages with the mirrored crop; deploy
            does the same (one more crop per person) unless told otherwise.
        draw_threshold: default drawing threshold.
        **extra: more top-level keys (e.g. ``min_subgraph_size``).

    Returns:
        A plain dict with ``mode``, ``arch``, ``Preprocess``, ``label_list``,
        ``draw_threshold`` and, for keypoint models, ``codec``, ``use_dark``, ``num_joints``,
        ``keypoint_names``, ``flip_perm``, ``skeleton``, ``sigmas`` and the other metadata keys.
    """
    ops = [_normalise_op(op, i) for i, op in enumerate(preprocess or [])]
    cfg: Dict[str, Any] = {
        'mode': mode, 'arch': arch, 'draw_threshold': float(draw_threshold),
        'Preprocess': [op for op in ops if op['type'] not in _DROPPED_OPS],
    }
    if metadata is not None:
        if 'num_joints' not in metadata:
            raise KeyError('build_infer_cfg: metadata has no `num_joints`')
        if codec is None:
            raise KeyError('build_infer_cfg: a keypoint model needs its codec')
        cfg.update(dict(metadata))
        cfg['codec'] = dict(codec)
        cfg['use_dark'] = bool(codec.get('use_dark', False))
        cfg['flip_test'] = bool(flip_test)
        cfg['label_list'] = list(label_list) if label_list is not None else ['keypoint']
    else:
        cfg['label_list'] = list(label_list or [])
    cfg.update(extra)
    return cfg


def _check_exportable(model: paddle.nn.Layer) -> None:
    missing = [name for name in ('export_forward', 'export_input_spec')
               if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(f'{type(model).__name__} cannot be exported: it has no {missing}')


def infer_cfg_from_config(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """``infer_cfg.yml`` content for the model a complete run config describes.

    The TestReader's sample and batch transforms become ``Preprocess`` (``Decode`` dropped).
    A config with ``num_joints`` is a keypoint model: its metadata, its codec and its head's
    ``flip_test`` are written,
    ``TopDownEvalAffine`` also gets the codec's input size as ``trainsize`` (what
    PaddleDetection's deploy reads), and the label is ``keypoint``; otherwise it is a detector
    with ``num_classes`` labels.
    """
    reader = cfg['TestReader']
    specs = list(reader.get('sample_transforms', [])) + list(reader.get('batch_transforms', []))
    preprocess = [_normalise_op(spec, i) for i, spec in enumerate(specs)]
    arch = cfg['architecture']
    if 'num_joints' not in cfg:
        return build_infer_cfg(arch, preprocess=preprocess,
                               label_list=['object'] * int(cfg.get('num_classes', 1)))
    codec = build_object(cfg['codec'], 'codec', cfg)
    for op in preprocess:
        if op['type'] == 'TopDownEvalAffine':
            op['trainsize'] = [int(v) for v in codec.input_size]
    head = cfg.get('TopDownHeatmapHead') or {}
    return build_infer_cfg(arch, preprocess=preprocess,
                           metadata=KeypointMeta.from_config(cfg).to_dict(),
                           codec=codec.to_config(), flip_test=bool(head.get('flip_test', True)))


def export_model(model: paddle.nn.Layer, infer_cfg: Dict[str, Any], image_shape: List[int],
                 output_dir: str, onnx: bool = False) -> str:
    """Trace ``model.export_forward`` and save it with ``infer_cfg.yml`` into ``output_dir``.

    Args:
        model: a layer with ``export_forward`` and ``export_input_spec``.
        infer_cfg: from :func:`build_infer_cfg`.
        image_shape: [3, H, W] (-1 for a dynamic side), passed to ``export_input_spec``.
        output_dir: created if needed; receives ``model.json`` (or ``model.pdmodel``),
            ``model.pdiparams`` and ``infer_cfg.yml``.
        onnx: also write ``model.onnx`` with paddle2onnx (see :func:`export_onnx`).

    Returns:
        ``output_dir``.
    """
    _check_exportable(model)
    model.eval()
    specs = model.export_input_spec(list(image_shape))
    os.makedirs(output_dir, exist_ok=True)
    _save_program(model, specs, output_dir)
    with open(os.path.join(output_dir, INFER_CFG_NAME), 'w', encoding='utf-8') as handle:
        yaml.safe_dump(infer_cfg, handle, sort_keys=False, default_flow_style=None)
    if onnx:
        with tempfile.TemporaryDirectory() as onnx_program_dir:
            with resize_upsampling():
                _save_program(model, specs, onnx_program_dir)
            export_onnx(onnx_program_dir, target=os.path.join(output_dir, ONNX_NAME))
    return output_dir


def _save_program(model: paddle.nn.Layer, specs: List[Any], output_dir: str) -> None:
    """Trace ``model.export_forward`` on ``specs`` and save ``output_dir/model.*``."""
    static = paddle.jit.to_static(_ExportWrapper(model), input_spec=[list(specs)],
                                  full_graph=True)
    paddle.jit.save(static, os.path.join(output_dir, 'model'))


def export_onnx(model_dir: str, opset_version: int = 11, target: Optional[str] = None) -> str:
    """Convert an exported model directory to ONNX with paddle2onnx: ``target``, by default
    ``model_dir/model.onnx``.

    :func:`export_model` (``onnx=True``) converts a second trace of the model made under
    :func:`~ppkpt.modeling.layers.resize_upsampling`, whose nearest upsampling becomes ONNX
    ``Resize``; a directory converted afterwards by this function keeps the ``Expand`` form
    (the same numbers, slower in onnxruntime).

    paddle2onnx 2.1 converts Paddle 3.3 PIR programs; ppkpt's HRNet and CenterNet exports run
    in onnxruntime with the same outputs as Paddle Inference (see docs/deploy.md). Graph
    optimisation is off: paddle2onnx's default optimiser (polygraphy) pip-installs packages at
    run time.

    Raises:
        ImportError: when paddle2onnx is not installed.
        FileNotFoundError: when the directory holds no exported program.
    """
    try:
        import paddle2onnx
    except ImportError as err:
        raise ImportError('ONNX export needs paddle2onnx: pip install paddle2onnx') from err
    program = next((os.path.join(model_dir, name) for name in ('model.json', 'model.pdmodel')
                    if os.path.isfile(os.path.join(model_dir, name))), None)
    if program is None:
        raise FileNotFoundError(f'no model.json or model.pdmodel in {model_dir}')
    target = target or os.path.join(model_dir, ONNX_NAME)
    paddle2onnx.export(program, os.path.join(model_dir, 'model.pdiparams'), target,
                       opset_version=opset_version, enable_optimize=False)
    return target
