"""Readers turn a dataset plus a list of transform specs into a ``paddle.io.DataLoader``.

A reader section in YAML looks like::

    TrainReader:
      sample_transforms:
        - TopDownAffine: {trainsize: [192, 256]}
      batch_transforms:
        - NormalizeImage: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
        - Permute: {}
      batch_size: 32
      shuffle: true

``sample_transforms`` run first, then ``batch_transforms``; both run per sample (the default
collate then stacks the records), so a batch transform never sees padding or other samples.
The ops are built when the reader is built (``create('TrainReader', cfg)``), from the same
config, so their shared keys (``codec``, ``flip_perm`` ...) are the run's.
"""
from typing import Any, Callable, Dict, List, Optional

from paddle.io import BatchSampler, DataLoader, Dataset, DistributedBatchSampler

from ppkpt.core.workspace import register

__all__ = ['BaseReader', 'TrainReader', 'EvalReader', 'TestReader']


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
        """Attach the transforms to ``dataset`` and return its DataLoader."""
        dataset.set_transform(self.transforms())
        workers = self.worker_num if worker_num is None else worker_num
        return DataLoader(dataset, batch_sampler=self.batch_sampler(dataset),
                          num_workers=workers, use_shared_memory=self.use_shared_memory,
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
        self.inputs_def = inputs_def
        self.fuse_normalize = fuse_normalize

