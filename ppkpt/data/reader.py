"""Readers turn a dataset plus a list of transform specs into a ``paddle.io.DataLoader``.

A reader section in YAML looks like::

    TrainReader:
      sample_transforms:
        - TopDownAffine: {}
        - GenerateTarget: {}
      batch_transforms:
        - NormalizeImage: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
        - Permute: {}
      batch_size: 32
      shuffle: true

``sample_transforms`` run first, then ``batch_transforms``; both run per sample (the default
collate then stacks the records), so a batch transform never sees padding or other samples.
The ops are built when the reader is built (``create('TrainReader', cfg)``), from the same
config, so their shared keys (``codec``, ``flip_perm`` ...) are the run's.

**Errors never hang the loader.** paddle's DataLoader loses an exception raised while it loads
a batch: with ``worker_num: 0`` its loading thread dies and the training loop waits forever;
with workers the main process gets a bare "Blocking queue is killed" error. So a reader's
loader (:class:`GuardedDataLoader`) loads through :class:`GuardedDataset`: an exception in a
sample (reading the image or a transform) or in collating a batch is pickled into a batch of
its own, and the loop that iterates the loader raises it again, in the main process, with its
type and message (which name the image file), caused by a :class:`LoaderTraceback` that holds
the sample and the traceback where it failed.
"""
import os
import pickle
import traceback
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
from paddle.io import BatchSampler, DataLoader, Dataset, DistributedBatchSampler
from paddle.io.dataloader.collate import default_collate_fn

from ppkpt.core.workspace import register

__all__ = ['BaseReader', 'TrainReader', 'EvalReader', 'TestReader', 'GuardedDataset',
           'GuardedDataLoader', 'guarded_collate', 'LoaderTraceback']

FAILURE_KEY = '__ppkpt_load_failure__'
"""The only key of a batch that carries a loading error (a pickled exception, as uint8)."""


class LoaderTraceback(Exception):
    """Where a data-loading error was raised and its traceback there (a sample may load in a
    worker process): the ``__cause__`` of the error that iterating the loader raises."""


def _failure(exc: Exception, where: str) -> Dict[str, np.ndarray]:
    """A batch carrying ``exc`` and its context: ``where`` it was raised, and its traceback.

    An exception that does not survive pickling travels as a RuntimeError with its type name
    and message.
    """
    trace = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    context = f'raised while {where} (process {os.getpid()}):\n{trace}'
    try:
        payload = pickle.dumps((exc, context))
        pickle.loads(payload)
    except Exception:
        payload = pickle.dumps((RuntimeError(f'{type(exc).__name__}: {exc}'), context))
    return {FAILURE_KEY: np.frombuffer(payload, dtype=np.uint8)}


def _is_failure(item: Any) -> bool:
    """Whether a sample or batch is a :func:`_failure`."""
    return isinstance(item, Mapping) and FAILURE_KEY in item


def _raise_failure(batch: Mapping[str, Any]) -> None:
    """Raise the error a :func:`_failure` batch carries, caused by its LoaderTraceback."""
    exc, context = pickle.loads(np.asarray(batch[FAILURE_KEY]).tobytes())
    raise exc from LoaderTraceback(context)


def _sample_name(dataset: Dataset, idx: int) -> str:
    """``sample <idx> (<image file>) of <Dataset>``, with the file when the dataset can say."""
    image_file = getattr(dataset, 'image_file', None)
    try:
        source = f' ({image_file(idx)})' if callable(image_file) else ''
    except Exception:  # for instance the annotations themselves failed to parse
        source = ''
    return f'sample {idx}{source} of {type(dataset).__name__}'


class GuardedDataset(Dataset):
    """A dataset whose ``__getitem__`` returns a loading error as a sample instead of raising.

    Args:
        dataset: the dataset to load from.
    """

    def __init__(self, dataset: Dataset) -> None:
        super().__init__()
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> Any:
        try:
            return self.dataset[idx]
        except Exception as exc:
            return _failure(exc, f'loading {_sample_name(self.dataset, idx)}')


def guarded_collate(samples: Sequence[Any]) -> Any:
    """paddle's default collate, except that a failed sample, or an error while stacking the
    samples (for instance arrays of different shapes), becomes the batch."""
    for sample in samples:
        if _is_failure(sample):
            return sample
    try:
        return default_collate_fn(samples)
    except Exception as exc:
        files = [sample.get('image_file') for sample in samples if isinstance(sample, Mapping)]
        return _failure(exc, f'collating the batch of the images {files}')


class GuardedDataLoader(DataLoader):
    """A ``paddle.io.DataLoader`` over a :class:`GuardedDataset` with :func:`guarded_collate`
    that raises a loading error in the process iterating it (see the module docstring)."""

    def __iter__(self) -> Iterator[Any]:
        for batch in super().__iter__():
            if _is_failure(batch):
                _raise_failure(batch)
            yield batch


class BaseReader:
    """Holds the transform specs and loader options of one reader section.

    Args:
        sample_transforms: ops applied to each record, in order.
        batch_transforms: ops applied to each record after ``sample_transforms``.
        batch_size: samples per batch (per process when distributed).
        shuffle: shuffle every epoch (a different order each epoch, the same on every rank).
        drop_last: drop the last incomplete batch.
        worker_num: DataLoader worker processes; 0 loads in the main process.
        use_shared_memory: pass batches from workers through shared memory.
    """

    section = 'Reader'
    __transforms__ = ['sample_transforms', 'batch_transforms']

    def __init__(self, sample_transforms: List[Callable] = [],
                 batch_transforms: List[Callable] = [], batch_size: int = 1,
                 shuffle: bool = False, drop_last: bool = False, worker_num: int = 0,
                 use_shared_memory: bool = False) -> None:
        self.sample_transforms = list(sample_transforms)
        self.batch_transforms = list(batch_transforms)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.worker_num = worker_num
        self.use_shared_memory = use_shared_memory

    def transforms(self) -> List[Callable]:
        """The ops: ``sample_transforms`` followed by ``batch_transforms``."""
        return self.sample_transforms + self.batch_transforms

    def batch_sampler(self, dataset: Dataset) -> BatchSampler:
        """A sampler that splits batches between ranks when training is distributed."""
        return DistributedBatchSampler(dataset, batch_size=self.batch_size, shuffle=self.shuffle,
                                       drop_last=self.drop_last)

    def __call__(self, dataset: Dataset, worker_num: Optional[int] = None) -> DataLoader:
        """Attach the transforms to ``dataset`` and return its :class:`GuardedDataLoader`:
        iterating it raises any error of the data loading, from the main process or a worker,
        instead of hanging."""
        dataset.set_transform(self.transforms())
        workers = self.worker_num if worker_num is None else worker_num
        return GuardedDataLoader(GuardedDataset(dataset),
                                 batch_sampler=self.batch_sampler(dataset),
                                 collate_fn=guarded_collate, num_workers=workers,
                                 use_shared_memory=self.use_shared_memory,
                                 use_buffer_reader=False, return_list=True)


@register
class TrainReader(BaseReader):
    """The training reader: shuffles by default and shards batches across ranks."""

    __category__ = 'reader'
    section = 'TrainReader'

    def __init__(self, sample_transforms: List[Callable] = [],
                 batch_transforms: List[Callable] = [], batch_size: int = 1,
                 shuffle: bool = True, drop_last: bool = False, worker_num: int = 0,
                 use_shared_memory: bool = False) -> None:
        super().__init__(sample_transforms, batch_transforms, batch_size, shuffle, drop_last,
                         worker_num, use_shared_memory)


@register
class EvalReader(BaseReader):
    """The evaluation reader: a fixed order on one process, every sample exactly once."""

    __category__ = 'reader'
    section = 'EvalReader'

    def batch_sampler(self, dataset: Dataset) -> BatchSampler:
        return BatchSampler(dataset, batch_size=self.batch_size, shuffle=False, drop_last=False)


@register
class TestReader(EvalReader):
    """The inference reader. ``inputs_def.image_shape`` [3, H, W] fixes the export input size."""

    __category__ = 'reader'
    section = 'TestReader'

    def __init__(self, sample_transforms: List[Callable] = [],
                 batch_transforms: List[Callable] = [], batch_size: int = 1,
                 inputs_def: Dict[str, Any] = {}, fuse_normalize: bool = False) -> None:
        super().__init__(sample_transforms, batch_transforms, batch_size)
        shape = inputs_def.get('image_shape', [3, 1, 1])
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(v, int) for v in shape)):
            raise ValueError(f'TestReader.inputs_def.image_shape must be [3, H, W], got {shape!r}')
        self.inputs_def = inputs_def
        self.fuse_normalize = fuse_normalize

