"""The argument parser every tool shares: ``-c CONFIG``, ``-o key=value ...`` and ``--seed``."""
import argparse
import functools
import random
import sys
from typing import Any, Callable, Optional

import numpy as np

from ppkpt.core.workspace import ConfigError


class ArgsParser(argparse.ArgumentParser):
    """``argparse`` with the options common to train, eval, infer and export."""

    def __init__(self, description: Optional[str] = None) -> None:
        super().__init__(description=description,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_argument('-c', '--config', required=True, help='YAML config file')
        self.add_argument('-o', '--opt', nargs='*', default=[],
                          help='override config values, e.g. -o epoch=3 TrainReader.batch_size=8')
        self.add_argument('--seed', type=int, default=None,
                          help='seed python, numpy and paddle for a reproducible run')


def seed_everything(seed: int) -> None:
    """Seed python, numpy and paddle (paddle is imported lazily so this module stays light)."""
    import paddle

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def exit_on_config_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tool's ``main``: a :class:`ConfigError` prints as one line and exits with 2."""

    @functools.wraps(main)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except ConfigError as err:
            message = ' '.join(str(err).split())
            print(f'ConfigError: {message}', file=sys.stderr)
            raise SystemExit(2) from None

    return wrapped
