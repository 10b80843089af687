"""Training speed and peak memory of HigherHRNet-W32 512 (bottom-up) on this machine.

    python benchmarks/bottomup_train.py [--batch_size 2] [--iters 3] [--warmup 1]

It builds the model and loss from ``configs/keypoint/higherhrnet/higherhrnet_hrnet_w32_512.yml``
and times full training iterations (forward, heatmap + associative-embedding loss, backward,
Adam step) on random 512x512 inputs with targets of the shapes the codec makes (heatmaps at
1/4 and 1/2, masks, tag positions of up to 30 people), median over ``--iters`` after
``--warmup``, in a fresh process (so the peak resident memory is this run's). It also times the
real bottom-up train pipeline (COCO fixture images through the config's RandomAffine,
KeyPointFlip, target and normalisation ops) to give the share of the step the data takes.
PaddleDetection's figure for the same setting is 16.95 s/iter and 4.0 GB.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = os.path.join(ROOT, 'configs/keypoint/higherhrnet/higherhrnet_hrnet_w32_512.yml')


def random_batch(batch_size: int, size: int, num_joints: int, max_people: int) -> dict:
    """Inputs and targets of the codec's shapes for ``batch_size`` random ``size`` images."""
    import numpy as np
    import paddle

    rng = np.random.default_rng(0)
    quarter, half = size // 4, size // 2
    tag_index = rng.integers(0, quarter * quarter, (batch_size, max_people, num_joints))
    tagmap = np.stack([tag_index, rng.integers(0, 2, tag_index.shape)], axis=-1)
    return {
        'image': paddle.to_tensor(rng.standard_normal((batch_size, 3, size, size), np.float32)),
        'heatmap_gt1x': paddle.to_tensor(rng.random((batch_size, num_joints, quarter, quarter),
                                                    np.float32)),
        'heatmap_gt2x': paddle.to_tensor(rng.random((batch_size, num_joints, half, half),
                                                    np.float32)),
        'mask_1x': paddle.ones([batch_size, quarter, quarter], 'float32'),
        'mask_2x': paddle.ones([batch_size, half, half], 'float32'),
        'tagmap': paddle.to_tensor(tagmap.astype(np.int64)),
    }


def measure(batch_size: int, iters: int, warmup: int) -> dict:
    """Median seconds per training iteration and peak RSS (in this process)."""
    import ppkpt  # noqa: F401  (first: sets the CPU thread default before paddle)
    import numpy as np
    import paddle

    from ppkpt.core.workspace import build_object, create, load_config

    cfg = load_config(CONFIG)
    codec = build_object(cfg['codec'], 'codec', cfg)
    model = create('HigherHRNet', cfg)
    model.train()
    optimizer = paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters())
    batch = random_batch(batch_size, int(codec.input_size[0]), cfg['num_joints'],
                         codec.max_num_people)
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
            'images_per_s': batch_size / seconds, 'iter_times': times,
            'peak_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
            'omp_threads': os.environ.get('OMP_NUM_THREADS')}


def measure_loader(batch_size: int, batches: int = 5) -> dict:
    """Seconds per batch of the real bottom-up train pipeline on the COCO fixture."""
    import ppkpt  # noqa: F401
    from ppkpt.core.workspace import create, load_config

    cfg = load_config(CONFIG, [
        f'TrainDataset.dataset_dir={ROOT}/tests/data/coco', 'TrainDataset.image_dir=.',
        'TrainDataset.anno_path=test_coco.json', f'TrainReader.batch_size={batch_size}',
        'TrainReader.worker_num=0', 'TrainReader.drop_last=false'])
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
    parser.add_argument('--batch_size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.batch_size, args.iters, args.warmup)
        result.update(measure_loader(args.batch_size))
        print(json.dumps(result))
        return
    out = subprocess.run([sys.executable, __file__, '--child', '--batch_size',
                          str(args.batch_size), '--iters', str(args.iters), '--warmup',
                          str(args.warmup)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    share = r['loader_seconds_per_batch'] / (r['seconds_per_iter'] + r['loader_seconds_per_batch'])
    print('| batch | s/iter | images/s | each iter (s) | peak RSS (GB) | loader s/batch | '
          'data share | OMP threads |')
    print('|---|---|---|---|---|---|---|---|')
    print(f"| {r['batch_size']} | {r['seconds_per_iter']:.2f} | {r['images_per_s']:.3f} | "
          f"{', '.join(f'{t:.1f}' for t in r['iter_times'])} | {r['peak_rss_gb']:.2f} | "
          f"{r['loader_seconds_per_batch']:.3f} | {share:.1%} | {r['omp_threads']} |")


if __name__ == '__main__':
    main()
