"""Evaluate weights on EvalDataset (COCO OKS AP/AR, MPII PCKh, COCO bbox mAP).

    python tools/eval.py -c CONFIG -o weights=output/x/model_final.pdparams [--output_eval DIR]
"""
from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.engine.env import prepare_run
from ppkpt.engine.trainer import Trainer


@exit_on_config_error
def main() -> None:
    parser = ArgsParser(__doc__)
    parser.add_argument('--output_eval', default=None, help='where predictions are written')
    parser.add_argument('--save_prediction_only', action='store_true',
                        help='only write the predictions json, skip scoring')
    args = parser.parse_args()
    cfg = prepare_run(args, ('output_eval', 'save_prediction_only'))
    if not cfg.get('weights'):
        parser.error('pass the weights to evaluate with -o weights=PATH')
    trainer = Trainer(cfg, mode='eval')
    trainer.load_weights(cfg['weights'])
    trainer.evaluate()


if __name__ == '__main__':
    main()
