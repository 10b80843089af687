"""One logger setup for every tool: timestamps, and only rank 0 talks at INFO level."""
import logging
import os
import sys
from typing import Optional

_FORMAT = '[%(asctime)s] %(name)s %(levelname)s: %(message)s'
_DATEFMT = '%m/%d %H:%M:%S'


def get_rank() -> int:
    """This process's rank in a ``paddle.distributed.launch`` run (0 when not distributed)."""
    return int(os.environ.get('PADDLE_TRAINER_ID', os.environ.get('PADDLE_RANK_IN_NODE', '0')))


def setup_logger(name: str = 'ppkpt', output: Optional[str] = None) -> logging.Logger:
    """Configure and return the ``name`` logger.

    Rank 0 logs INFO to stdout; other ranks log only warnings and errors. With ``output`` (a
    directory or ``.log`` file) rank 0 also writes a log file there.
    """
    logger = logging.getLogger(name)
    if getattr(logger, '_ppkpt_configured', False):
        return logger
    rank = get_rank()
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    formatter = logging.Formatter(_FORMAT, datefmt=_DATEFMT)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(formatter)
    logger.addHandler(console)
    if output and rank == 0:
        path = output if output.endswith('.log') else os.path.join(output, 'log.txt')
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        file_handler = logging.FileHandler(path)
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    logger._ppkpt_configured = True
    return logger
