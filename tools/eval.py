"""Evaluate weights on EvalDataset (COCO OKS AP/AR, MPII PCKh, COCO bbox mAP).

    python tools/eval.py -c CONFIG -o weights=output/x/model_final.pdparams [--output_eval DIR]

PaddleDetection's eval flags are accepted; those ppkpt does not implement warn or fail
(``ppkpt.core.cli.TOOL_FLAGS['eval']``, listed in docs/deploy.md).
"""
from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.engine.env import prepare_run
from ppkpt.engine.trainer import Trainer


def build_parser() -> ArgsParser:
    """The CLI of this tool."""
    parser = ArgsParser(__doc__, tool='eval')
    parser.add_argument('--output_eval', default=None, help='where predictions are written')
    parser.add_bool('--save_prediction_only', default=None,
                    help='only write the predictions json, skip scoring')
    return parser


@exit_on_config_error
def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    cfg = prepare_run(args, ('output_eval', 'save_prediction_only'))
    if not cfg.get('weights'):
        parser.error('pass the weights to evaluate with -o weights=PATH')
    trainer = Trainer(cfg, mode='eval')
    trainer.load_weights(cfg['weights'])
    trainer.evaluate()


if __name__ == '__main__':
    main()
