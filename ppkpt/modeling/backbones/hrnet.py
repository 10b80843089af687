"""HRNet backbone (Wang et al., "Deep High-Resolution Representation Learning", 2019).

A stride-4 stem (two stride-2 3x3 convs and four bottlenecks) feeds three stages with 2, 3 and
4 parallel branches at strides 4, 8, 16 and 32. Each stage repeats a high-resolution module:
four basic blocks per branch, then a fuse step that sums every branch into every output
(1x1 conv + nearest upsampling from coarser branches, chains of stride-2 3x3 convs from finer
ones).

Sub-layer names and the order they are created in reproduce PaddleDetection's ``HRNet`` exactly,
so its released ``.pdparams`` load with ``set_state_dict`` without renaming.
"""
from numbers import Integral
from typing import Dict, List, Optional, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.layers import (ConvNormLayer, FeatureSpec, SELayer, crop_to, freeze_groups,
                                  upsample_nearest)

__all__ = ['HRNet', 'HRNET_CHANNELS']

# Branch widths of the last stage per model width; stage 2 and 3 use the first 2 and 3 entries.
HRNET_CHANNELS: Dict[int, List[int]] = {
    18: [18, 36, 72, 144],
    30: [30, 60, 120, 240],
    32: [32, 64, 128, 256],
    40: [40, 80, 160, 320],
    44: [44, 88, 176, 352],
    48: [48, 96, 192, 384],
    60: [60, 120, 240, 480],
    64: [64, 128, 256, 512],
}
STAGE_MODULES = (1, 4, 3)
BLOCKS_PER_BRANCH = 4
STEM_CHANNELS = 64
BOTTLENECK_EXPANSION = 4
OUT_STRIDES = (4, 8, 16, 32)


class _NormArgs:
    """BatchNorm settings passed unchanged to every :class:`ConvNormLayer` of the backbone."""

    def __init__(self, norm_momentum: float, norm_decay: float, freeze_norm: bool) -> None:
        self.kwargs = dict(norm_momentum=norm_momentum, norm_decay=norm_decay,
                           freeze_norm=freeze_norm)

    def conv(self, ch_in: int, ch_out: int, kernel_size: int, stride: int = 1,
             act: Optional[str] = None) -> ConvNormLayer:
        return ConvNormLayer(ch_in, ch_out, kernel_size, stride=stride, act=act, **self.kwargs)


class BottleneckBlock(nn.Layer):
    """1x1 -> 3x3 -> 1x1 (x4 expansion) residual block; ``conv_down`` projects the shortcut."""

    def __init__(self, ch_in: int, planes: int, norm: _NormArgs, project: bool,
                 has_se: bool) -> None:
        super().__init__()
        ch_out = planes * BOTTLENECK_EXPANSION
        self.conv1 = norm.conv(ch_in, planes, 1, act='relu')
        self.conv2 = norm.conv(planes, planes, 3, act='relu')
        self.conv3 = norm.conv(planes, ch_out, 1)
        self.conv_down = norm.conv(ch_in, ch_out, 1) if project else None
        self.se = SELayer(ch_out) if has_se else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C_in, H, W] -> [N, 4 * planes, H, W]."""
        out = self.conv3(self.conv2(self.conv1(x)))
        if self.se is not None:
            out = self.se(out)
        shortcut = x if self.conv_down is None else self.conv_down(x)
        return F.relu(out + shortcut)


class BasicBlock(nn.Layer):
    """Two 3x3 convs with an identity shortcut (input and output have ``channels`` channels)."""

    def __init__(self, channels: int, norm: _NormArgs, has_se: bool) -> None:
        super().__init__()
        self.conv1 = norm.conv(channels, channels, 3, act='relu')
        self.conv2 = norm.conv(channels, channels, 3)
        self.se = SELayer(channels) if has_se else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C, H, W] -> [N, C, H, W]."""
        out = self.conv2(self.conv1(x))
        if self.se is not None:
            out = self.se(out)
        return F.relu(out + x)


class Layer1(nn.Layer):
    """Four bottlenecks at stride 4 taking the 64-channel stem to 256 channels."""

    def __init__(self, ch_in: int, norm: _NormArgs, has_se: bool, name: str) -> None:
        super().__init__()
        self.blocks = []
        for i in range(4):
            block = BottleneckBlock(ch_in if i == 0 else STEM_CHANNELS * BOTTLENECK_EXPANSION,
                                    STEM_CHANNELS, norm, project=i == 0, has_se=has_se)
            self.blocks.append(self.add_sublayer(f'block_{name}_{i + 1}', block))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, 64, H, W] -> [N, 256, H, W]."""
        for block in self.blocks:
            x = block(x)
        return x


class TransitionLayer(nn.Layer):
    """Adapt the branch list of one stage to the next: change widths and add a coarser branch.

    A branch whose width is unchanged passes through; a new branch is a stride-2 3x3 conv of the
    coarsest input branch.
    """

    def __init__(self, in_channels: List[int], out_channels: List[int], norm: _NormArgs,
                 name: str) -> None:
        super().__init__()
        self.convs = []
        for i, ch_out in enumerate(out_channels):
            conv = None
            if i >= len(in_channels):
                conv = norm.conv(in_channels[-1], ch_out, 3, stride=2, act='relu')
            elif in_channels[i] != ch_out:
                conv = norm.conv(in_channels[i], ch_out, 3, act='relu')
            if conv is not None:
                self.add_sublayer(f'transition_{name}_layer_{i + 1}', conv)
            self.convs.append(conv)

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B_in tensors [N, C_i, H_i, W_i] -> B_out tensors, finest first."""
        outs = []
        for i, conv in enumerate(self.convs):
            source = feats[i] if i < len(feats) else feats[-1]
            outs.append(source if conv is None else conv(source))
        return outs


class Branches(nn.Layer):
    """``BLOCKS_PER_BRANCH`` basic blocks on every branch, independently."""

    def __init__(self, channels: List[int], norm: _NormArgs, has_se: bool, name: str) -> None:
        super().__init__()
        self.branches = []
        for i, width in enumerate(channels):
            blocks = [self.add_sublayer(f'bb_{name}_branch_layer_{i + 1}_{j + 1}',
                                        BasicBlock(width, norm, has_se))
                      for j in range(BLOCKS_PER_BRANCH)]
            self.branches.append(blocks)

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B tensors [N, C_i, H_i, W_i] -> B tensors of the same shapes."""
        outs = []
        for x, blocks in zip(feats, self.branches):
            for block in blocks:
                x = block(x)
            outs.append(x)
        return outs


class FuseLayers(nn.Layer):
    """Exchange information between branches: output i is ReLU(sum over j of branch j mapped to i).

    Coarser branches (j > i) pass a 1x1 conv and are upsampled by ``2 ** (j - i)``; finer ones
    (j < i) pass ``i - j`` stride-2 3x3 convs (ReLU between them, none after the last).

    Args:
        channels: branch widths, finest first.
        num_outputs: how many outputs to compute (1 keeps only the finest).
    """

    def __init__(self, channels: List[int], num_outputs: int, norm: _NormArgs,
                 name: str) -> None:
        super().__init__()
        self.paths: List[List[Union[nn.Layer, List[nn.Layer], None]]] = []
        for i in range(num_outputs):
            row: List[Union[nn.Layer, List[nn.Layer], None]] = []
            for j, ch_j in enumerate(channels):
                if j > i:
                    row.append(self.add_sublayer(f'residual_{name}_layer_{i + 1}_{j + 1}',
                                                 norm.conv(ch_j, channels[i], 1)))
                elif j < i:
                    row.append(self._down_chain(ch_j, channels[i], i - j, norm,
                                                f'residual_{name}_layer_{i + 1}_{j + 1}'))
                else:
                    row.append(None)
            self.paths.append(row)

    def _down_chain(self, ch_in: int, ch_out: int, steps: int, norm: _NormArgs,
                    prefix: str) -> List[nn.Layer]:
        chain = []
        for k in range(steps):
            last = k == steps - 1
            conv = norm.conv(ch_in, ch_out if last else ch_in, 3, stride=2,
                             act=None if last else 'relu')
            chain.append(self.add_sublayer(f'{prefix}_{k + 1}', conv))
        return chain

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B tensors [N, C_j, H_j, W_j] -> ``num_outputs`` tensors [N, C_i, H_i, W_i]."""
        outs = []
        for i, row in enumerate(self.paths):
            total = feats[i]
            for j, path in enumerate(row):
                if j > i:
                    total = total + crop_to(upsample_nearest(path(feats[j]), 2 ** (j - i)),
                                            feats[i])
                elif j < i:
                    y = feats[j]
                    for conv in path:
                        y = conv(y)
                    total = total + y
            outs.append(F.relu(total))
        return outs


class HighResolutionModule(nn.Layer):
    """Branch blocks followed by the fuse step."""

    def __init__(self, channels: List[int], num_outputs: int, norm: _NormArgs, has_se: bool,
                 name: str) -> None:
        super().__init__()
        self.branches_func = Branches(channels, norm, has_se, name)
        self.fuse_func = FuseLayers(channels, num_outputs, norm, name)

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B tensors -> ``num_outputs`` tensors, finest first."""
        return self.fuse_func(self.branches_func(feats))


class Stage(nn.Layer):
    """A chain of high-resolution modules; the last one may keep only the finest output."""

    def __init__(self, channels: List[int], num_modules: int, norm: _NormArgs, has_se: bool,
                 multi_scale_output: bool, name: str) -> None:
        super().__init__()
        self.hr_modules = []
        for m in range(num_modules):
            last = m == num_modules - 1
            num_outputs = 1 if last and not multi_scale_output else len(channels)
            module = HighResolutionModule(channels, num_outputs, norm, has_se, f'{name}_{m + 1}')
            self.hr_modules.append(self.add_sublayer(f'stage_{name}_{m + 1}', module))

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B tensors -> B tensors (or only the finest one), finest first."""
        for module in self.hr_modules:
            feats = module(feats)
        return feats


@register
@serializable
class HRNet(nn.Layer):
    """HRNet backbone with PaddleDetection-compatible parameter names.

    Freezing groups, by index: 0 = stem and bottlenecks (``conv_layer1_*``, ``la1``),
    1 = ``tr1`` + ``st2``, 2 = ``tr2`` + ``st3``, 3 = ``tr3`` + ``st4``.

    Args:
        width: width of the finest branch; one of the keys of :data:`HRNET_CHANNELS`.
        has_se: add squeeze-and-excitation to every residual block (changes the parameters).
        freeze_at: stop training the parameters of groups ``0..freeze_at``; -1 trains all.
        freeze_norm: BatchNorm uses its stored statistics and its scale/offset are not trained.
        norm_momentum: BatchNorm moving-average momentum.
        norm_decay: L2 decay on the BatchNorm scale and offset.
        return_idx: which of the four last-stage branches to return (0 = stride 4). With only
            ``[0]`` the last module skips the coarser outputs, as in PaddleDetection.
        upsample: bilinearly upsample the four branches to stride 4 and concatenate them into
            one output with ``sum(channels)`` channels (HRNetV2); ``return_idx`` is ignored.
        downsample: with ``upsample``, also return the concatenated map average-pooled to
            strides 8, 16 and 32 (an HRNetV2p pyramid; four outputs).
    """

    __category__ = 'backbone'

    def __init__(self, width: int = 18, has_se: bool = False, freeze_at: int = 0,
                 freeze_norm: bool = True, norm_momentum: float = 0.9, norm_decay: float = 0.0,
                 return_idx: List[int] = [0, 1, 2, 3], upsample: bool = False,
                 downsample: bool = False) -> None:
        super().__init__()
        self.channels = _check_args(width, return_idx, freeze_at, upsample, downsample)
        self.width = width
        self.return_idx = [int(i) for i in return_idx]
        self.upsample = upsample
        self.downsample = downsample
        norm = _NormArgs(norm_momentum, norm_decay, freeze_norm)
        ch2, ch3, ch4 = self.channels[:2], self.channels[:3], self.channels
        self.conv_layer1_1 = norm.conv(3, STEM_CHANNELS, 3, stride=2, act='relu')
        self.conv_layer1_2 = norm.conv(STEM_CHANNELS, STEM_CHANNELS, 3, stride=2, act='relu')
        self.la1 = Layer1(STEM_CHANNELS, norm, has_se, 'layer2')
        self.tr1 = TransitionLayer([STEM_CHANNELS * BOTTLENECK_EXPANSION], ch2, norm, 'tr1')
        self.st2 = Stage(ch2, STAGE_MODULES[0], norm, has_se, True, 'st2')
        self.tr2 = TransitionLayer(ch2, ch3, norm, 'tr2')
        self.st3 = Stage(ch3, STAGE_MODULES[1], norm, has_se, True, 'st3')
        self.tr3 = TransitionLayer(ch3, ch4, norm, 'tr3')
        multi_scale = upsample or self.return_idx != [0]
        self.st4 = Stage(ch4, STAGE_MODULES[2], norm, has_se, multi_scale, 'st4')
        freeze_groups(self._groups(), freeze_at)

    def _groups(self) -> List[List[nn.Layer]]:
        return [[self.conv_layer1_1, self.conv_layer1_2, self.la1], [self.tr1, self.st2],
                [self.tr2, self.st3], [self.tr3, self.st4]]

    @property
    def out_shape(self) -> List[FeatureSpec]:
        """Channels and stride of every returned feature map, in return order."""
        if self.upsample:
            count = len(OUT_STRIDES) if self.downsample else 1
            return [FeatureSpec(sum(self.channels), OUT_STRIDES[i]) for i in range(count)]
        return [FeatureSpec(self.channels[i], OUT_STRIDES[i]) for i in self.return_idx]

    def forward(self, inputs: Union[paddle.Tensor, Dict[str, paddle.Tensor]]
                ) -> List[paddle.Tensor]:
        """Compute the high-resolution features.

        Args:
            inputs: image [N, 3, H, W] float32, or a dict holding it under ``'image'``.
                H and W should be multiples of 32; other sizes work through cropping in the
                fuse step.

        Returns:
            A list of feature maps as described by :attr:`out_shape`, each
            [N, C, ceil(H / s), ceil(W / s)] for its stride s.
        """
        image = inputs['image'] if isinstance(inputs, dict) else inputs
        x = self.conv_layer1_2(self.conv_layer1_1(image))
        feats = self.tr1([self.la1(x)])
        feats = self.st3(self.tr2(self.st2(feats)))
        feats = self.st4(self.tr3(feats))
        if self.upsample:
            return self._concat_pyramid(feats)
        return [feats[i] for i in self.return_idx]

    def _concat_pyramid(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        size = feats[0].shape[2:4]
        resized = [feats[0]] + [F.interpolate(f, size=size, mode='bilinear', align_corners=False)
                                for f in feats[1:]]
        merged = paddle.concat(resized, axis=1)
        if not self.downsample:
            return [merged]
        return [merged] + [F.avg_pool2d(merged, kernel_size=k, stride=k) for k in (2, 4, 8)]


def _check_args(width: int, return_idx: List[int], freeze_at: int, upsample: bool,
                downsample: bool) -> List[int]:
    """Validate the constructor arguments and return the branch widths."""
    if width not in HRNET_CHANNELS:
        raise ValueError(f'HRNet.width must be one of {sorted(HRNET_CHANNELS)}, got {width}')
    if not return_idx:
        raise ValueError('HRNet.return_idx must name at least one branch, got []')
    for i, idx in enumerate(return_idx):
        if not isinstance(idx, Integral) or not 0 <= idx < len(OUT_STRIDES):
            raise ValueError(f'HRNet.return_idx[{i}] = {idx!r} is not a branch index in 0..3')
    if not -1 <= freeze_at < len(OUT_STRIDES):
        raise ValueError(f'HRNet.freeze_at must be in -1..3, got {freeze_at}')
    if downsample and not upsample:
        raise ValueError('HRNet.downsample pools the upsampled concatenation and needs '
                         'upsample: true')
    return HRNET_CHANNELS[width]
