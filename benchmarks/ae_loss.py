"""Speed of the vectorised associative-embedding loss against a per-person loop.

    python benchmarks/ae_loss.py [--batch 2] [--joints 17] [--size 128] [--people 30] [--reps 20]

Both compute the same pull/push losses (PaddleDetection's normalisation) on the same random
batch; each repetition times forward + backward of one, then of the other (alternating, so
machine load hits both alike), and the medians are compared. The loop is the way
PaddleDetection's ``AELoss`` works: per image it reads the valid people back to the host, then
gathers and reduces every person's tags in Python.
"""
import argparse
import time
from typing import Callable, Dict, Tuple

import ppkpt  # noqa: F401  (first: sets the CPU thread / MKL defaults before paddle)
import numpy as np
import paddle

from ppkpt.modeling.losses.ae_loss import AELoss


def per_person_loop(tags: paddle.Tensor, tagmap: paddle.Tensor
                    ) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """(pull, push) with a Python loop over images and people (factors 1).

    Args:
        tags: [N, K, H, W] tags; tagmap: [N, M, K, 2] flat indices and valid flags.
    """
    pulls, pushes = [], []
    for image in range(tags.shape[0]):
        flat = tags[image].reshape([tags.shape[1], -1])
        slots = tagmap[image].numpy()                                   # host sync per image
        pull, grouped, means = paddle.zeros([]), 0, []
        for person in slots:
            joints = np.flatnonzero(person[:, 1] > 0)
            if len(joints) == 0:
                continue
            index = paddle.to_tensor(np.stack([joints, person[joints, 0]], axis=1))
            embedding = paddle.gather_nd(flat, index)
            mean = embedding.mean()
            pull = pull + paddle.square(embedding - mean).mean()
            grouped += len(joints) > 1
            means.append(mean)
        pulls.append(pull / max(grouped, 1))
        if len(means) < 2:
            pushes.append(paddle.zeros([]))
            continue
        stacked = paddle.stack(means)
        count = len(means)
        closeness = paddle.exp(-paddle.square(stacked.unsqueeze(0) - stacked.unsqueeze(1)))
        pushes.append((closeness.sum() - count) / (2 * count * (count - 1)))
    return paddle.stack(pulls).mean(), paddle.stack(pushes).mean()


def random_batch(batch: int, joints: int, size: int, people: int, seed: int = 0
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Random [N, K, H, W] tags and an [N, M, K, 2] tagmap with ~80% of the joints valid."""
    rng = np.random.default_rng(seed)
    tags = rng.normal(size=(batch, joints, size, size)).astype('float32')
    tagmap = np.zeros((batch, people, joints, 2), dtype='int64')
    tagmap[..., 0] = rng.integers(0, size * size, size=(batch, people, joints))
    tagmap[..., 1] = rng.uniform(size=(batch, people, joints)) < 0.8
    return tags, tagmap


def time_once(loss_fn: Callable, tags: np.ndarray, tagmap: paddle.Tensor) -> float:
    """Seconds of one forward + backward, synchronised by reading the gradient back."""
    tensor = paddle.to_tensor(tags, stop_gradient=False)
    tic = time.perf_counter()
    pull, push = loss_fn(tensor, tagmap)
    (pull + push).backward()
    tensor.grad.numpy()
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--joints', type=int, default=17)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--people', type=int, default=30)
    parser.add_argument('--reps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    args = parser.parse_args()

    tags, tagmap_np = random_batch(args.batch, args.joints, args.size, args.people)
    tagmap = paddle.to_tensor(tagmap_np)
    vectorised = AELoss(pull_factor=1.0, push_factor=1.0)
    fns: Dict[str, Callable] = {'vectorised': vectorised, 'per-person loop': per_person_loop}

    check = [float(v) for fn in fns.values()
             for v in fn(paddle.to_tensor(tags), tagmap)]
    np.testing.assert_allclose(check[:2], check[2:], rtol=1e-5)

    times: Dict[str, list] = {name: [] for name in fns}
    for rep in range(args.warmup + args.reps):
        for name, fn in fns.items():
            seconds = time_once(fn, tags, tagmap)
            if rep >= args.warmup:
                times[name].append(seconds)
    medians = {name: float(np.median(values)) for name, values in times.items()}

    print(f'AE loss forward + backward, batch {args.batch}, K {args.joints}, '
          f'{args.size}x{args.size} tags, {args.people} people, median of {args.reps} '
          f'(alternating), paddle {paddle.__version__} on {paddle.device.get_device()}\n')
    print('| implementation | ms |')
    print('|---|---|')
    for name, seconds in medians.items():
        print(f'| {name} | {seconds * 1e3:.2f} |')
    ratio = medians['per-person loop'] / medians['vectorised']
    print(f'\nthe vectorised loss is {ratio:.1f}x faster (pull {check[0]:.6f}, '
          f'push {check[1]:.6f}, both implementations agree)')


if __name__ == '__main__':
    main()
