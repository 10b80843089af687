"""How well a config learns the bundled demo data in a time budget: train, then evaluate on
the held-out split.

    python benchmarks/learning.py [--config configs/keypoint/demo/tinypose_plier_demo.yml]
                                  [--save_dir demo_output] [--seed 0]

It trains the config from scratch with ``Trainer`` (as ``tools/train.py --seed 0`` does) in a
fresh process, times the training, evaluates the final weights with the config's metric and
prints one JSON line: ``train_seconds``, ``eval_seconds``, ``stats`` (the metric's numbers,
AP first) and ``weights``. The demo data comes from ``python tools/make_demo_data.py --out
dataset/demo``.
"""
import argparse
import json
import os
import sys
import time
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import config_path, run_child  # noqa: E402

DEFAULT_CONFIG = 'configs/keypoint/demo/tinypose_plier_demo.yml'


def measure(config: str, save_dir: str, seed: int) -> Dict[str, Any]:
    """Train and evaluate in this process."""
    from ppkpt.core.cli import seed_everything
    from ppkpt.core.workspace import load_config
    from ppkpt.engine.trainer import Trainer

    seed_everything(seed)
    cfg = load_config(config_path(config), [f'save_dir={save_dir}'])
    trainer = Trainer(cfg, 'train')
    tic = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - tic
    tic = time.perf_counter()
    stats = trainer.evaluate()
    return {'config': config, 'train_seconds': train_seconds,
            'eval_seconds': time.perf_counter() - tic,
            'stats': {name: [float(v) for v in values] for name, values in stats.items()},
            'weights': os.path.join(trainer.save_dir, 'model_final.pdparams')}


def run(config: str, save_dir: str, seed: int) -> Dict[str, Any]:
    """:func:`measure` in a fresh process."""
    return run_child(__file__, ['--child', '--config', config, '--save_dir', save_dir,
                                '--seed', str(seed)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--save_dir', default='demo_output')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    result = (measure if args.child else run)(args.config, args.save_dir, args.seed)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
