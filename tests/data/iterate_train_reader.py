"""Iterate a TrainReader's DataLoader over the MPII fixture and print one JSON line.

Run by ``tests/data/test_reader.py`` in a subprocess, so that a loader that hangs fails the
test on a timeout instead of hanging the test run::

    python tests/data/iterate_train_reader.py --worker_num 2 --transform fail_on:051423444.jpg

Prints ``{"batches", "samples", "num_skipped"}`` after a whole epoch, or, when iterating
raises, ``{"type", "message", "cause_type", "cause"}`` and exits with 3.
"""
import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List

import numpy as np

from ppkpt.data.datasets.keypoint_mpii import KeypointTopDownMPIIDataset
from ppkpt.data.reader import TrainReader

MPII_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mpii')
FAILED = 3


class FailOn:
    """Raise ValueError on the image whose file name ends with ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, record: Dict[str, Any]) -> Dict[str, Any]:
        if record['image_file'].endswith(self.name):
            raise ValueError('refusing this image')
        return record


class Ragged:
    """Crop each image to a size that depends on its ``im_id``, so a batch cannot be stacked."""

    def __call__(self, record: Dict[str, Any]) -> Dict[str, Any]:
        side = 4 + record['im_id'] % 5
        record['image'] = np.ascontiguousarray(record['image'][:side, :side])
        return record


class Shrink:
    """Keep an 8x8 corner of the image, so batches stack and travel fast."""

    def __call__(self, record: Dict[str, Any]) -> Dict[str, Any]:
        record['image'] = np.ascontiguousarray(record['image'][:8, :8])
        return record


def build_transforms(spec: str) -> List[Callable]:
    """``none``, ``ragged`` or ``fail_on:<file name>``, then :class:`Shrink` (except ragged)."""
    if spec == 'ragged':
        return [Ragged()]
    if spec.startswith('fail_on:'):
        return [FailOn(spec.split(':', 1)[1]), Shrink()]
    return [Shrink()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--worker_num', type=int, required=True)
    parser.add_argument('--transform', default='none')
    parser.add_argument('--dataset_dir', default=MPII_DIR)
    parser.add_argument('--skip_bad_images', action='store_true')
    args = parser.parse_args()
    dataset = KeypointTopDownMPIIDataset(args.dataset_dir, '', 'test_mpii.json', 16,
                                         skip_bad_images=args.skip_bad_images)
    reader = TrainReader(build_transforms(args.transform), batch_size=2, shuffle=False,
                         worker_num=args.worker_num)
    batches = samples = 0
    try:
        for batch in reader(dataset):
            batches += 1
            samples += int(batch['image'].shape[0])
    except Exception as exc:
        print(json.dumps({'type': type(exc).__name__, 'message': str(exc),
                          'cause_type': type(exc.__cause__).__name__,
                          'cause': str(exc.__cause__)}))
        sys.exit(FAILED)
    print(json.dumps({'batches': batches, 'samples': samples,
                      'num_skipped': dataset.num_skipped}))


if __name__ == '__main__':
    main()
