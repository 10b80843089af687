"""Lite-HRNet backbone (Yu et al., "Lite-HRNet: A Lightweight High-Resolution Network", 2021).

A shuffle-style stem brings the image to stride 4; three stages then keep 2, 3 and 4 parallel
branches (strides 4, 8, 16, 32), each stage a chain of modules. A module runs its blocks and
then fuses every branch into every other one, as HRNet does, but with cheap layers: depthwise
3x3 + pointwise 1x1 for the stride-2 paths and a 1x1 conv + nearest upsampling for the coarse
ones. The blocks are

* ``LITE`` (``lite_18``, ``lite_30``): conditional channel weighting. Half of every branch's
  channels pass unchanged; the other half is reweighted by gates computed from all branches
  pooled to the coarsest size (cross-resolution weighting), filtered by a depthwise 3x3 conv
  and reweighted again by its own global pooling (spatial weighting).
* ``NAIVE`` (``naive``, ``wider_naive``): ShuffleNetV2 units, one chain per branch.

An iterative head walks from the coarsest branch to the finest, adding each upsampled result
to the next finer branch, so output 0 (stride 4) has seen every branch.

Sub-layer names and their creation order reproduce PaddleDetection's ``LiteHRNet``, so its
``.pdparams`` load with ``set_state_dict`` without renaming. Output channels are [C0, C0, C1,
C2] at strides [4, 8, 16, 32] for last-stage widths [C0, C1, C2, C3] (40 for output 0 of
every type except ``naive``, which has 30). The blocks are in ``lite_hrnet_blocks``.
"""
from numbers import Integral
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import paddle
import paddle.nn as nn

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.backbones.lite_hrnet_blocks import (IterativeHead, LiteHRModule, NormBuilder,
                                                        Stem, depthwise_pointwise)
from ppkpt.modeling.layers import FeatureSpec, freeze_groups

__all__ = ['LiteHRNet', 'LiteHRNetSpec', 'LITE_HRNET_TYPES']


class LiteHRNetSpec(NamedTuple):
    """Shape of one network type.

    Attributes:
        num_modules: modules in stages 0, 1 and 2.
        module_type: ``'LITE'`` (conditional channel weighting) or ``'NAIVE'`` (shuffle units).
        channels: branch widths of the last stage, finest first; stage i uses the first i + 2.
    """

    num_modules: Tuple[int, int, int]
    module_type: str
    channels: Tuple[int, int, int, int]


LITE_HRNET_TYPES: Dict[str, LiteHRNetSpec] = {
    'lite_18': LiteHRNetSpec((2, 4, 2), 'LITE', (40, 80, 160, 320)),
    'lite_30': LiteHRNetSpec((3, 8, 3), 'LITE', (40, 80, 160, 320)),
    'naive': LiteHRNetSpec((2, 4, 2), 'NAIVE', (30, 60, 120, 240)),
    'wider_naive': LiteHRNetSpec((2, 4, 2), 'NAIVE', (40, 80, 160, 320)),
}
STEM_CHANNELS = 32          # the stem's width for every type
BLOCKS_PER_MODULE = 2       # weighting blocks (LITE) or shuffle units per branch (NAIVE)
REDUCE_RATIO = 8            # cross-resolution weighting bottleneck
OUT_STRIDES = (4, 8, 16, 32)


@register
@serializable
class LiteHRNet(nn.Layer):
    """Lite-HRNet backbone with PaddleDetection-compatible parameter names.

    ``wider_naive`` is PP-TinyPose's backbone. Freezing groups, by index: 0 = ``stem``,
    1 = ``transition0`` + ``stage0``, 2 = ``transition1`` + ``stage1``, 3 = ``transition2`` +
    ``stage2`` (the same convention as :class:`~ppkpt.modeling.backbones.hrnet.HRNet`;
    PaddleDetection's ``LiteHRNet`` instead stops the gradient of head output ``freeze_at``,
    so its default 0 trains nothing behind output 0; its configs all set -1).

    Args:
        network_type: one of :data:`LITE_HRNET_TYPES`: ``lite_18``, ``lite_30``, ``naive``,
            ``wider_naive``.
        freeze_at: stop training the parameters of groups ``0..freeze_at``; -1 trains all.
        freeze_norm: BatchNorm uses its stored statistics and its scale/offset are not trained.
        norm_decay: L2 decay on the BatchNorm scale and offset.
        return_idx: which of the four head outputs to return (0 = stride 4).
    """

    __category__ = 'backbone'

    def __init__(self, network_type: str, freeze_at: int = 0, freeze_norm: bool = True,
                 norm_decay: float = 0.0, return_idx: List[int] = [0, 1, 2, 3]) -> None:
        super().__init__()
        spec = _check_args(network_type, freeze_at, return_idx)
        self.return_idx = [int(i) for i in return_idx]
        norm = NormBuilder(freeze_norm, norm_decay)
        self.stem = Stem(STEM_CHANNELS, norm)
        previous = [STEM_CHANNELS]
        for stage, num_modules in enumerate(spec.num_modules):
            channels = list(spec.channels[:stage + 2])
            setattr(self, f'transition{stage}', _transition(previous, channels, norm))
            setattr(self, f'stage{stage}', nn.Sequential(*[
                LiteHRModule(channels, spec.module_type, BLOCKS_PER_MODULE, REDUCE_RATIO, norm)
                for _ in range(num_modules)]))
            previous = channels
        self.head_layer = IterativeHead(previous, norm)
        freeze_groups(self._groups(), freeze_at)

    def _groups(self) -> List[List[nn.Layer]]:
        return [[self.stem]] + [[getattr(self, f'transition{s}'), getattr(self, f'stage{s}')]
                                for s in range(3)]

    @property
    def out_shape(self) -> List[FeatureSpec]:
        """Channels and stride of every returned feature map, in return order."""
        channels = self.head_layer.out_channels
        return [FeatureSpec(channels[i], OUT_STRIDES[i]) for i in self.return_idx]

    def forward(self, inputs: Union[paddle.Tensor, Dict[str, paddle.Tensor]]
                ) -> List[paddle.Tensor]:
        """Compute the high-resolution features.

        Args:
            inputs: image [N, 3, H, W] float32, or a dict holding it under ``'image'``.
                With H and W multiples of 32 every branch halves exactly; other sizes work,
                with the coarse maps cropped after upsampling.

        Returns:
            A list of feature maps as described by :attr:`out_shape`, each
            [N, C, ceil(H / s), ceil(W / s)] for its stride s.
        """
        image = inputs['image'] if isinstance(inputs, dict) else inputs
        feats = [self.stem(image)]
        for stage in range(3):
            transition = getattr(self, f'transition{stage}')
            feats = getattr(self, f'stage{stage}')(_apply_transition(transition, feats))
        outs = self.head_layer(feats)
        return [outs[i] for i in self.return_idx]


def _transition(previous: List[int], channels: List[int], norm: NormBuilder) -> nn.LayerList:
    """Adapt the branch list of one stage to the next.

    A branch whose width is unchanged passes (None); one whose width changes gets a stride-1
    depthwise-separable step; a new branch is a chain of stride-2 steps from the coarsest
    previous branch (one step per new level, all with ReLU).
    """
    layers: List[Optional[nn.Sequential]] = []
    for i, ch_out in enumerate(channels):
        if i < len(previous):
            layers.append(None if previous[i] == ch_out
                          else depthwise_pointwise(previous[i], ch_out, 1, norm, relu=True))
            continue
        steps = i + 1 - len(previous)
        ch_in = previous[-1]
        layers.append(nn.Sequential(*[
            depthwise_pointwise(ch_in, ch_out if k == steps - 1 else ch_in, 2, norm, relu=True)
            for k in range(steps)]))
    return nn.LayerList(layers)


def _apply_transition(transition: nn.LayerList, feats: List[paddle.Tensor]
                      ) -> List[paddle.Tensor]:
    """Previous-stage maps -> this stage's inputs; a new branch starts from the coarsest map."""
    outs = []
    for i, layer in enumerate(transition):
        source = feats[i] if i < len(feats) else feats[-1]
        outs.append(source if layer is None else layer(source))
    return outs


def _check_args(network_type: str, freeze_at: int, return_idx: List[int]) -> LiteHRNetSpec:
    """Validate the constructor arguments and return the network type's spec."""
    if network_type not in LITE_HRNET_TYPES:
        raise ValueError(f'LiteHRNet.network_type must be one of {sorted(LITE_HRNET_TYPES)}, '
                         f'got {network_type!r}')
    if not return_idx:
        raise ValueError('LiteHRNet.return_idx must name at least one output, got []')
    for i, idx in enumerate(return_idx):
        if not isinstance(idx, Integral) or not 0 <= idx < len(OUT_STRIDES):
            raise ValueError(f'LiteHRNet.return_idx[{i}] = {idx!r} is not an output index in 0..3')
    if not -1 <= freeze_at <= 3:
        raise ValueError(f'LiteHRNet.freeze_at must be in -1..3, got {freeze_at}')
    return LITE_HRNET_TYPES[network_type]
