"""Process set-up shared by the tools: config + flags, device, distributed init, logger, seed."""
import argparse
import logging
import os
from typing import Any, Dict, Iterable, Optional

import paddle
import paddle.distributed as dist

from ppkpt.core.cli import seed_everything
from ppkpt.core.logger import setup_logger
from ppkpt.core.workspace import declare_keys, load_config

logger = logging.getLogger('ppkpt')

declare_keys(use_gpu=bool, cpu_threads=Optional[int], weights=Optional[str],
             pretrain_weights=Optional[str])

_NOT_CONFIG = ('config', 'opt', 'seed')


def prepare_run(args: argparse.Namespace, flags: Iterable[str] = ()) -> Dict[str, Any]:
    """Load the config, copy the named CLI ``flags`` into it and set up this process.

    ``cpu_threads: N`` in the config sets paddle's CPU thread count for this run (default: the
    ``OMP_NUM_THREADS`` that ``import ppkpt`` chose). Sets the device (``use_gpu: true`` in the
    config selects the GPU when paddle has CUDA),
    initialises the process group under ``paddle.distributed.launch``, configures the logger
    and seeds every RNG when ``--seed`` is given.

    Returns:
        The merged config.
    """
    cfg = load_config(args.config, args.opt)
    for flag in flags:
        value = getattr(args, flag)
        if flag not in _NOT_CONFIG and value is not None:
            cfg[flag] = value
    if cfg.get('cpu_threads'):
        paddle.base.core.set_num_threads(int(cfg['cpu_threads']))
        os.environ['OMP_NUM_THREADS'] = str(int(cfg['cpu_threads']))
    use_gpu = bool(cfg.get('use_gpu', False)) and paddle.is_compiled_with_cuda()
    paddle.set_device('gpu' if use_gpu else 'cpu')
    if dist.get_world_size() > 1:
        dist.init_parallel_env()
    save_dir = os.path.join(cfg.get('save_dir', 'output'), cfg['filename'])
    setup_logger(output=save_dir)
    if args.seed is not None:
        seed_everything(args.seed + dist.get_rank())
    logger.info('Config %s on %s (%d process%s, %s CPU threads each)', args.config,
                paddle.get_device(), dist.get_world_size(),
                'es' if dist.get_world_size() > 1 else '', os.environ.get('OMP_NUM_THREADS'))
    return cfg
