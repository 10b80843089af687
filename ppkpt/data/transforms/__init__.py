"""Per-sample transforms on record dicts (see ``docs/architecture.md``)."""
from ppkpt.data.transforms.common import Compose, Decode, NormalizeImage, Permute
from ppkpt.data.transforms.topdown import (RandomFlipHalfBodyTransform, ToHeatmapsTopDown,
                                           ToHeatmapsTopDown_DARK, ToHeatmapsTopDown_UDP,
                                           TopDownAffine, TopDownEvalAffine,
                                           TopDownGetRandomScaleRotation, TopDownRandomFlip,
                                           TopDownRandomShiftBboxCenter)

__all__ = [
    'Compose', 'Decode', 'NormalizeImage', 'Permute', 'RandomFlipHalfBodyTransform',
    'TopDownRandomFlip', 'TopDownRandomShiftBboxCenter', 'TopDownGetRandomScaleRotation',
    'TopDownAffine', 'TopDownEvalAffine', 'ToHeatmapsTopDown', 'ToHeatmapsTopDown_DARK',
    'ToHeatmapsTopDown_UDP',
]
