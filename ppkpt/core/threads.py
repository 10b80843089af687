"""CPU thread defaults that must be set before paddle is imported."""
import os


def default_cpu_threads() -> int:
    """Set ``OMP_NUM_THREADS`` to the core count unless the user already set it.

    Paddle sets ``OMP_NUM_THREADS=1`` at import time when it is unset, which leaves cores idle.
    Distributed launches (``PADDLE_TRAINERS_NUM`` > 1) get the cores split between ranks.

    Returns:
        The thread count now in ``OMP_NUM_THREADS``.
    """
    if 'OMP_NUM_THREADS' not in os.environ:
        ranks = max(1, int(os.environ.get('PADDLE_TRAINERS_NUM', '1')))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
        os.environ['OMP_NUM_THREADS'] = str(max(1, (cores or 1) // ranks))
    return int(os.environ['OMP_NUM_THREADS'])
