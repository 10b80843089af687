"""Train a model.

    python tools/train.py -c CONFIG [-o key=value ...] [--eval] [-r CHECKPOINT] [--amp]
    python -m paddle.distributed.launch --nproc_per_node 2 tools/train.py -c CONFIG
"""
from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.engine.env import prepare_run
from ppkpt.engine.trainer import Trainer

FLAGS = ('amp', 'use_vdl', 'vdl_log_dir')


@exit_on_config_error
def main() -> None:
    parser = ArgsParser(__doc__)
    parser.add_argument('--eval', action='store_true', help='evaluate at every snapshot')
    parser.add_argument('-r', '--resume', default=None, help='snapshot to resume, e.g. output/x/9')
    parser.add_argument('--amp', action='store_true', help='fp16 mixed precision (GPU only)')
    parser.add_argument('--use_vdl', action='store_true', help='write VisualDL scalars')
    parser.add_argument('--vdl_log_dir', default='vdl_log_dir/scalar')
    args = parser.parse_args()
    cfg = prepare_run(args, FLAGS)
    trainer = Trainer(cfg, mode='train')
    if args.resume:
        trainer.resume_from(args.resume)
    elif cfg.get('pretrain_weights'):
        trainer.load_pretrain(cfg['pretrain_weights'])
    trainer.train(validate=args.eval)


if __name__ == '__main__':
    main()
