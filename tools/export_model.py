"""Export a trained model for Paddle Inference: ``model.json`` + ``model.pdiparams`` + ``infer_cfg.yml``.

    python tools/export_model.py -c CONFIG -o weights=output/NAME/model_final.pdparams [--output_dir output_inference] [--onnx]

The files go to ``{output_dir}/{config name}/``. Export builds only the model: it never opens
dataset files.
"""
import logging
import os
from typing import Any, Dict, List

from ppkpt.core.cli import ArgsParser
import ppkpt.components  # noqa: F401  (registers every component)
from ppkpt.engine.env import prepare_run
from ppkpt.engine.exporter import build_infer_cfg, export_model
from ppkpt.engine.trainer import Trainer
from ppkpt.metadata import KeypointMeta

logger = logging.getLogger('ppkpt')


def preprocess_ops(test_reader: Dict[str, Any]) -> List[Dict[str, Any]]:
    """TestReader ops as ``[{'type': Name, **args}]``, without ``Decode`` (deploy reads images)."""
    ops = []
    for spec in test_reader.get('sample_transforms', []) + test_reader.get('batch_transforms', []):
        (name, args), = spec.items()
        if name != 'Decode':
            ops.append({'type': name, **(args or {})})
    return ops


def main() -> None:
    parser = ArgsParser(__doc__)
    parser.add_argument('--output_dir', default='output_inference')
    parser.add_argument('--onnx', action='store_true', help='also write model.onnx (paddle2onnx)')
    args = parser.parse_args()
    cfg = prepare_run(args)
    if not cfg.get('weights'):
        parser.error('pass the weights to export with -o weights=PATH')
    trainer = Trainer(cfg, mode='test')
    trainer.load_weights(cfg['weights'])
    test_reader = cfg['TestReader']
    preprocess = preprocess_ops(test_reader)
    for op in preprocess:
        if op['type'] == 'TopDownEvalAffine':
            op.setdefault('trainsize', cfg['trainsize'])
    is_keypoint = 'num_joints' in cfg
    infer_cfg = build_infer_cfg(
        arch=cfg['architecture'], mode='paddle', preprocess=preprocess,
        label_list=['keypoint'] if is_keypoint else ['object'] * int(cfg.get('num_classes', 1)),
        metadata=KeypointMeta.from_config(cfg).to_dict() if is_keypoint else None,
        use_dark=bool((cfg.get(cfg['architecture']) or {}).get('use_dark', True)) if is_keypoint
        else False)
    output_dir = os.path.join(args.output_dir, cfg['filename'])
    export_model(trainer.model, infer_cfg, test_reader['inputs_def']['image_shape'], output_dir,
                 onnx=args.onnx)
    logger.info('Exported %s to %s', cfg['architecture'], output_dir)


if __name__ == '__main__':
    main()
