"""Export a trained model for Paddle Inference: ``model.json`` + ``model.pdiparams`` + ``infer_cfg.yml``.

    python tools/export_model.py -c CONFIG -o weights=output/NAME/model_final.pdparams [--output_dir output_inference] [--onnx]

The files go to ``{output_dir}/{config name}/``. Export builds only the model: it never opens
dataset files. PaddleDetection's ``--export_serving_model``, ``--for_fd`` and ``--slim_config``
are accepted and fail with a one-line error when given (ppkpt does not implement them).
"""
import logging
import os

from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.engine.env import prepare_run
from ppkpt.engine.exporter import export_model, infer_cfg_from_config
from ppkpt.engine.trainer import Trainer

logger = logging.getLogger('ppkpt')


def build_parser() -> ArgsParser:
    """The CLI of this tool."""
    parser = ArgsParser(__doc__, tool='export')
    parser.add_argument('--output_dir', default='output_inference')
    parser.add_bool('--onnx', help='also write model.onnx (paddle2onnx)')
    return parser


@exit_on_config_error
def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    cfg = prepare_run(args)
    if not cfg.get('weights'):
        parser.error('pass the weights to export with -o weights=PATH')
    trainer = Trainer(cfg, mode='test')
    trainer.load_weights(cfg['weights'])
    output_dir = os.path.join(args.output_dir, cfg['filename'])
    export_model(trainer.model, infer_cfg_from_config(cfg),
                 cfg['TestReader']['inputs_def']['image_shape'], output_dir, onnx=args.onnx)
    logger.info('Exported %s to %s', cfg['architecture'], output_dir)


if __name__ == '__main__':
    main()
