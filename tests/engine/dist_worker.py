"""Worker for the distributed test: train a tiny model, then save this rank's weights.

Run under ``python -m paddle.distributed.launch --nproc_per_node 2``.
"""
import os
import sys

import paddle
import paddle.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpers import PLIER_CONFIG, tiny_plier_options  # noqa: E402
from ppkpt.core.workspace import load_config  # noqa: E402
from ppkpt.engine.trainer import Trainer  # noqa: E402


def main(data_dir: str, out_dir: str) -> None:
    dist.init_parallel_env()
    rank = dist.get_rank()
    paddle.seed(100 + rank)  # different initial weights: DataParallel must sync them
    cfg = load_config(PLIER_CONFIG, tiny_plier_options(data_dir, out_dir) + ['epoch=1'])
    trainer = Trainer(cfg, 'train')
    trainer.train()
    paddle.save(trainer.model.state_dict(), os.path.join(out_dir, f'rank{rank}.pdparams'))
    print(f'rank {rank} of {dist.get_world_size()} trained {len(trainer.loader)} batches')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
