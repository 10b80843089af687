"""Training speed and peak memory of keypoint configs on this machine.

    python benchmarks/train_throughput.py [--configs CFG ...] [--batch_size 8]
                                          [--bottomup_batch_size 2] [--iters 5] [--warmup 2]

For each config it builds the model and loss from the config and one real batch from the
config's own train pipeline (augmentation, targets of the codec, normalisation) on a small
fixture: the COCO test images for 17-joint configs, the MPII ones for MPII, and a rendered
plier split for the demo configs. It then times full training iterations (forward, loss,
backward, Adam step) on that batch, median over ``--iters`` after ``--warmup``, and the
loader's seconds per batch, so the table also shows the data's share of a step. Each config
runs in a fresh process, so the peak resident memory is that config's. Bottom-up configs use
``--bottomup_batch_size`` (their images are 512-640 px).
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import ROOT, config_path, run_child, table  # noqa: E402

DEFAULT_CONFIGS = [
    'configs/keypoint/hrnet/hrnet_w32_256x192.yml',
    'configs/keypoint/hrnet/hrnet_w32_384x288.yml',
    'configs/keypoint/hrnet/dark_hrnet_w48_256x192.yml',
    'configs/keypoint/hrnet/hrnet_w32_256x256_mpii.yml',
    'configs/keypoint/lite_hrnet/lite_hrnet_18_256x192_coco.yml',
    'configs/keypoint/lite_hrnet/lite_hrnet_30_256x192_coco.yml',
    'configs/keypoint/lite_hrnet/wider_naive_hrnet_18_256x192_coco.yml',
    'configs/keypoint/tiny_pose/tinypose_128x96.yml',
    'configs/keypoint/tiny_pose/tinypose_256x192.yml',
    'configs/keypoint/higherhrnet/higherhrnet_hrnet_w32_512.yml',
    'configs/keypoint/higherhrnet/higherhrnet_hrnet_w32_640.yml',
    'configs/keypoint/demo/hrnet_plier_demo.yml',
    'configs/keypoint/demo/tinypose_plier_demo.yml',
    'configs/keypoint/demo/higherhrnet_plier_demo.yml',
]


def fixture_overrides(cfg: Dict[str, Any], data_dir: str) -> List[str]:
    """``-o`` overrides that point the config's TrainDataset at a small fixture."""
    dataset = cfg['TrainDataset'].name
    if 'MPII' in dataset:
        root, image_dir, anno = f'{ROOT}/tests/data/mpii', '.', 'test_mpii.json'
    elif cfg['num_joints'] == 17:
        root, image_dir, anno = f'{ROOT}/tests/data/coco', '.', 'test_coco.json'
    else:
        from ppkpt.data.synthetic import generate_split
        generate_split(data_dir, 'train', 8, (256, 192), seed=0)
        root, image_dir, anno = data_dir, 'images/train', 'annotations/train.json'
    return [f'TrainDataset.dataset_dir={root}', f'TrainDataset.image_dir={image_dir}',
            f'TrainDataset.anno_path={anno}', 'TrainReader.worker_num=0',
            'TrainReader.drop_last=false']


def measure(config: str, batch_size: int, iters: int, warmup: int) -> Dict[str, Any]:
    """Seconds per training iteration, loader seconds per batch and peak RSS (this process)."""
    import ppkpt  # noqa: F401  (first: sets the CPU thread default before paddle)
    import numpy as np
    import paddle

    from ppkpt.core.workspace import create, load_config

    with tempfile.TemporaryDirectory() as data_dir:
        base = load_config(config_path(config))
        cfg = load_config(config_path(config), fixture_overrides(base, data_dir) +
                          [f'TrainReader.batch_size={batch_size}'])
        loader = create('TrainReader', cfg)(create('TrainDataset', cfg))
        batches, tic = [], time.perf_counter()
        while sum(len(b['image']) for b in batches) < batch_size:
            batches.extend(loader)  # a fixture smaller than a batch gives several
        loader_seconds = (time.perf_counter() - tic) * batch_size / sum(
            len(b['image']) for b in batches)
    batch = {key: _join([b[key] for b in batches], batch_size) for key in batches[0]}
    model = create(cfg['architecture'], cfg)
    model.train()
    optimizer = paddle.optimizer.Adam(learning_rate=1e-4, parameters=model.parameters())
    times = []
    for i in range(warmup + iters):
        tic = time.perf_counter()
        loss = model(batch)['loss']
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        float(loss)
        if i >= warmup:
            times.append(time.perf_counter() - tic)
    seconds = float(np.median(times))
    return {'config': config, 'batch_size': batch_size, 'seconds_per_iter': seconds,
            'images_per_s': batch_size / seconds, 'loader_seconds_per_batch': loader_seconds,
            'input_hw': list(batch['image'].shape[2:]),
            'peak_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}


def _join(parts: List[Any], size: int) -> Any:
    """The first ``size`` samples of several batches' values of one key."""
    import paddle
    if isinstance(parts[0], paddle.Tensor):
        return paddle.concat(parts)[:size]
    return [item for part in parts for item in part][:size]


def is_bottomup(config: str) -> bool:
    from ppkpt.core.workspace import load_config
    return load_config(config_path(config))['architecture'] == 'HigherHRNet'


def run(configs: List[str], batch_size: int, bottomup_batch_size: int, iters: int,
        warmup: int) -> List[Dict[str, Any]]:
    """One fresh process per config; returns their results."""
    results = []
    for config in configs:
        batch = bottomup_batch_size if is_bottomup(config) else batch_size
        print(f'training {config} at batch {batch} ...', file=sys.stderr, flush=True)
        results.append(run_child(__file__, ['--child', config, '--batch_size', str(batch),
                                            '--iters', str(iters), '--warmup', str(warmup)]))
    return results


def markdown(results: List[Dict[str, Any]]) -> str:
    """The results as a markdown table."""
    rows = []
    for r in results:
        share = r['loader_seconds_per_batch'] / (r['seconds_per_iter'] +
                                                 r['loader_seconds_per_batch'])
        rows.append([os.path.basename(r['config']), 'x'.join(map(str, r['input_hw'])),
                     r['batch_size'], f"{r['seconds_per_iter']:.2f}", f"{r['images_per_s']:.2f}",
                     f"{r['peak_rss_gb']:.2f}", f'{share:.1%}'])
    return table(['config', 'input HxW', 'batch', 's/iter', 'images/s', 'peak RSS (GB)',
                  'data share'], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS)
    parser.add_argument('--batch_size', type=int, default=8)
    parser.add_argument('--bottomup_batch_size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.batch_size, args.iters, args.warmup)))
        return
    print(markdown(run(args.configs, args.batch_size, args.bottomup_batch_size, args.iters,
                       args.warmup)))


if __name__ == '__main__':
    main()
