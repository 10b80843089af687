"""Export a trained model for Paddle Inference: ``model.json`` + ``model.pdiparams`` + ``infer_cfg.yml``.

    python tools/export_model.py -c CONFIG -o weights=output/NAME/model_final.pdparams [--output_dir output_inference] [--onnx]

The files go to ``{output_dir}/{config name}/``. Export builds only the model: it never opens
dataset files.
"""
import logging
import os

from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.engine.env import prepare_run
from ppkpt.engine.exporter import export_model, infer_cfg_from_config
from ppkpt.engine.trainer import Trainer

logger = logging.getLogger('ppkpt')


@exit_on_config_error
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
    output_dir = os.path.join(args.output_dir, cfg['filename'])
    export_model(trainer.model, infer_cfg_from_config(cfg),
                 cfg['TestReader']['inputs_def']['image_shape'], output_dir, onnx=args.onnx)
    logger.info('Exported %s to %s', cfg['architecture'], output_dir)


if __name__ == '__main__':
    main()
