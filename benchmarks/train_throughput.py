"""Training throughput and peak memory of HRNet-W32 256x192 on this machine.

    python benchmarks/train_throughput.py [--batch_sizes 2 8] [--iters 5] [--warmup 2]

For each batch size it times full training iterations (forward, MSE loss, backward, Adam step)
on random inputs with the real model and loss built from the config, and reports images/s and
the process's peak resident memory. It also times the real data pipeline (COCO fixture images
through the config's train transforms) to show the loader never makes training wait.
Run each batch size in a fresh process (the default) so peak memory is per batch size.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'configs/keypoint/hrnet/hrnet_w32_256x192.yml')


def measure(batch_size: int, iters: int, warmup: int) -> dict:
    """Median seconds per training iteration and peak RSS for one batch size (in-process)."""
    import ppkpt  # noqa: F401  (first: sets the CPU thread default before paddle)
    import numpy as np
    import paddle

    from ppkpt.core.workspace import create, load_config

    model = create('TopDownHRNet', load_config(CONFIG))
    model.train()
    optimizer = paddle.optimizer.Adam(learning_rate=5e-4, parameters=model.parameters())
    rng = np.random.default_rng(0)
    batch = {
        'image': paddle.to_tensor(rng.standard_normal((batch_size, 3, 256, 192), np.float32)),
        'target': paddle.to_tensor(rng.random((batch_size, 17, 64, 48), np.float32)),
        'target_weight': paddle.ones([batch_size, 17, 1], 'float32'),
    }
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
    return {'batch_size': batch_size, 'seconds_per_iter': seconds,
            'images_per_s': batch_size / seconds,
            'peak_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
            'omp_threads': os.environ.get('OMP_NUM_THREADS')}


def measure_loader(batch_size: int, batches: int = 10) -> dict:
    """Seconds per batch of the real train pipeline on the COCO fixture (main process)."""
    import ppkpt  # noqa: F401
    from ppkpt.core.workspace import create, load_config

    cfg = load_config(CONFIG, [
        f'TrainDataset.dataset_dir={ROOT}/tests/data/coco', 'TrainDataset.image_dir=.',
        'TrainDataset.anno_path=test_coco.json', f'TrainReader.batch_size={batch_size}',
        'TrainReader.worker_num=0'])
    loader = create('TrainReader', cfg)(create('TrainDataset', cfg))
    count, tic = 0, time.perf_counter()
    while count < batches:
        for _ in loader:
            count += 1
            if count == batches:
                break
    return {'loader_seconds_per_batch': (time.perf_counter() - tic) / batches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[2, 8])
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--child', type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        result = measure(args.child, args.iters, args.warmup)
        result.update(measure_loader(args.child))
        print(json.dumps(result))
        return
    print('| batch | s/iter | images/s | peak RSS (GB) | loader s/batch | data share | OMP threads |')
    print('|---|---|---|---|---|---|---|')
    for batch_size in args.batch_sizes:
        out = subprocess.run([sys.executable, __file__, '--child', str(batch_size),
                              '--iters', str(args.iters), '--warmup', str(args.warmup)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        share = r['loader_seconds_per_batch'] / (r['seconds_per_iter'] + r['loader_seconds_per_batch'])
        print(f"| {batch_size} | {r['seconds_per_iter']:.2f} | {r['images_per_s']:.2f} | "
              f"{r['peak_rss_gb']:.2f} | {r['loader_seconds_per_batch']:.3f} | {share:.1%} | "
              f"{r['omp_threads']} |")


if __name__ == '__main__':
    main()
