"""Train a model.

    python tools/train.py -c CONFIG [-o key=value ...] [--eval] [-r SNAPSHOT] [--amp]
    python -m paddle.distributed.launch --nproc_per_node 2 tools/train.py -c CONFIG

``-r output/NAME`` resumes from the run folder's newest complete snapshot (logged);
``-r output/NAME/9`` from snapshot 9. An incomplete snapshot is never loaded: ``-r`` prints
what is missing and the last complete snapshot, and exits with code 2.
"""
import sys

from ppkpt.core.cli import ArgsParser, exit_on_config_error
from ppkpt.engine.checkpoint import Snapshot, SnapshotError, load_resume
from ppkpt.engine.env import prepare_run
from ppkpt.engine.trainer import Trainer

FLAGS = ('amp', 'use_vdl', 'vdl_log_dir', 'save_prediction_only')


@exit_on_config_error
def main() -> None:
    parser = ArgsParser(__doc__, tool='train')
    parser.add_bool('--eval', help='evaluate at every snapshot')
    parser.add_argument('-r', '--resume', default=None,
                        help='run folder (its newest complete snapshot) or snapshot to resume, '
                             'e.g. output/x or output/x/9')
    parser.add_bool('--amp', help='fp16 mixed precision (GPU only)')
    parser.add_bool('--use_vdl', help='write VisualDL scalars')
    parser.add_argument('--vdl_log_dir', default='vdl_log_dir/scalar')
    parser.add_bool('--enable_ce', help="PaddleDetection's fixed-seed run: --seed 0 unless "
                                        '--seed is given')
    parser.add_bool('--save_prediction_only', default=None,
                    help='the evaluation at each snapshot only writes the predictions')
    args = parser.parse_args()
    cfg = prepare_run(args, FLAGS)
    snapshot = _load_snapshot(args.resume) if args.resume else None
    trainer = Trainer(cfg, mode='train')
    if snapshot is not None:
        trainer.resume_from(snapshot)
    elif cfg.get('pretrain_weights'):
        trainer.load_pretrain(cfg['pretrain_weights'])
    trainer.train(validate=args.eval)


def _load_snapshot(path: str) -> Snapshot:
    """The complete snapshot ``-r path`` names, read before the trainer is built so a bad
    ``-r`` fails at once; an incomplete one prints why and exits with code 2."""
    try:
        return load_resume(path)
    except SnapshotError as err:
        print(f'SnapshotError: {err}', file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == '__main__':
    main()
