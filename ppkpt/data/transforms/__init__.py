"""Per-sample transforms on record dicts (see ``docs/architecture.md``)."""
from ppkpt.data.transforms.bottomup import KeyPointFlip, NormalizePermute, RandomAffine
from ppkpt.data.transforms.common import Compose, Decode
from ppkpt.data.transforms.preprocess import (DetResize, EvalAffine, NormalizeImage, PadStride,
                                              Permute, Resize, TopDownEvalAffine,
                                              build_preprocess)
from ppkpt.data.transforms.topdown import (GenerateTarget, RandomFlipHalfBodyTransform,
                                           TopDownAffine, TopDownGetRandomScaleRotation,
                                           TopDownRandomFlip, TopDownRandomShiftBboxCenter)

__all__ = [
    'Compose', 'Decode', 'NormalizeImage', 'Permute', 'DetResize', 'Resize', 'PadStride',
    'TopDownEvalAffine', 'build_preprocess', 'RandomFlipHalfBodyTransform', 'TopDownRandomFlip',
    'TopDownRandomShiftBboxCenter', 'TopDownGetRandomScaleRotation', 'TopDownAffine',
    'GenerateTarget', 'RandomAffine', 'KeyPointFlip', 'NormalizePermute', 'EvalAffine',
]
