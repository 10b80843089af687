"""A light backbone of inverted-residual blocks with four output strides (4, 8, 16, 32).

The design follows the MobileNetV2 idea: each block expands the channels with a 1x1 conv,
filters them with a 3x3 depthwise conv and projects back with a linear 1x1 conv, with a
residual connection when the shape is unchanged. A width multiplier scales every stage.
"""
from typing import List

import paddle
import paddle.nn as nn

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.layers import FeatureSpec

__all__ = ['ConvBNReLU', 'InvertedResidual', 'LiteBackbone']


class ConvBNReLU(nn.Sequential):
    """Conv2D (no bias) + BatchNorm2D, followed by ReLU unless ``act`` is False.

    Args:
        in_channels: input channels C_in.
        out_channels: output channels C_out.
        kernel_size: square kernel size; padding keeps the size at stride 1.
        stride: conv stride.
        groups: conv groups (``in_channels`` for a depthwise conv).
        act: apply ReLU after the norm.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, act: bool = True) -> None:
        layers = [
            nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride,
                      padding=kernel_size // 2, groups=groups, bias_attr=False),
            nn.BatchNorm2D(out_channels),
        ]
        if act:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class InvertedResidual(nn.Layer):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1, linear), plus identity when shapes match.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: 1 or 2 (stride of the depthwise conv).
        expand_ratio: hidden channels = ``round(in_channels * expand_ratio)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: float) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'InvertedResidual stride must be 1 or 2, got {stride}')
        hidden = max(1, int(round(in_channels * expand_ratio)))
        layers = []
        if hidden != in_channels:
            layers.append(ConvBNReLU(in_channels, hidden, kernel_size=1))
        layers.append(ConvBNReLU(hidden, hidden, kernel_size=3, stride=stride, groups=hidden))
        layers.append(ConvBNReLU(hidden, out_channels, kernel_size=1, act=False))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C_in, H, W] -> [N, C_out, H / stride, W / stride]."""
        out = self.block(x)
        return x + out if self.use_residual else out


def _scaled(channels: int, width_mult: float, divisor: int = 8) -> int:
    """Scale a channel count and round it to a multiple of ``divisor`` (at least ``divisor``)."""
    scaled = channels * width_mult
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return rounded


@register
@serializable
class LiteBackbone(nn.Layer):
    """A light inverted-residual backbone returning features at strides 4, 8, 16 and 32.

    The stem is a stride-2 3x3 conv; each of the four stages starts with a stride-2 block.

    Args:
        width_mult: multiplier applied to ``stem_channels`` and ``channels``.
        stem_channels: stem output channels before the multiplier.
        channels: output channels of the four stages before the multiplier.
        depths: number of blocks in each of the four stages.
        expand_ratio: hidden-channel expansion of every inverted-residual block.

    Attributes:
        out_shape: one :class:`FeatureSpec` per output, strides 4, 8, 16, 32.
    """

    __category__ = 'backbone'

    def __init__(self, width_mult: float = 1.0, stem_channels: int = 16,
                 channels: List[int] = [24, 32, 64, 96], depths: List[int] = [2, 3, 3, 2],
                 expand_ratio: float = 4.0) -> None:
        super().__init__()
        if len(channels) != 4 or len(depths) != 4:
            raise ValueError(f'LiteBackbone needs 4 stages: got channels={channels}, '
                             f'depths={depths}')
        if width_mult <= 0 or min(depths) < 1:
            raise ValueError(f'LiteBackbone: width_mult must be > 0 and depths >= 1, got '
                             f'width_mult={width_mult}, depths={depths}')
        in_ch = _scaled(stem_channels, width_mult)
        self.stem = ConvBNReLU(3, in_ch, kernel_size=3, stride=2)
        self.stages = nn.LayerList()
        specs = []
        for i, (ch, depth) in enumerate(zip(channels, depths)):
            out_ch = _scaled(ch, width_mult)
            blocks = [InvertedResidual(in_ch if j == 0 else out_ch, out_ch, 2 if j == 0 else 1,
                                       expand_ratio) for j in range(depth)]
            self.stages.append(nn.Sequential(*blocks))
            specs.append(FeatureSpec(channels=out_ch, stride=2 ** (i + 2)))
            in_ch = out_ch
        self._out_shape = specs

    @property
    def out_shape(self) -> List[FeatureSpec]:
        """Channels and strides of the four outputs, finest first."""
        return list(self._out_shape)

    def forward(self, image: paddle.Tensor) -> List[paddle.Tensor]:
        """Compute the feature pyramid.

        Args:
            image: [N, 3, H, W] float32, H and W multiples of 32.

        Returns:
            Four tensors [N, C_i, H / s_i, W / s_i] for strides s_i = 4, 8, 16, 32.
        """
        x = self.stem(image)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats
