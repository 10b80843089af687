"""The building blocks of :class:`~ppkpt.modeling.backbones.lite_hrnet.LiteHRNet`: the stem,
the conditional channel weighting of ``LITE`` modules, the shuffle units of ``NAIVE`` ones, the
multi-branch module with its fusion and the iterative head. Attribute names and creation order
follow PaddleDetection's, so its weights load by name. Dimension names: N batch, C channels.
"""
from functools import lru_cache
from typing import List, Optional, Sequence

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Normal

from ppkpt.modeling.layers import batch_norm, crop_to, upsample_nearest

__all__ = ['NormBuilder', 'Stem', 'LiteHRModule', 'IterativeHead', 'depthwise_pointwise',
           'resize_bilinear_corners']

SPATIAL_RATIO = 4           # spatial weighting bottleneck


class NormBuilder:
    """Builds every BatchNorm of the backbone with the same settings (:func:`batch_norm`).

    Args:
        freeze_norm: use the stored statistics in training too and do not train scale/offset.
        norm_decay: L2 decay on the BatchNorm scale and offset.
    """

    def __init__(self, freeze_norm: bool, norm_decay: float) -> None:
        self.freeze_norm = freeze_norm
        self.norm_decay = norm_decay

    def __call__(self, channels: int) -> nn.BatchNorm2D:
        return batch_norm(channels, decay=self.norm_decay, freeze=self.freeze_norm)


def _conv(ch_in: int, ch_out: int, kernel_size: int, stride: int = 1, groups: int = 1,
          bias: bool = False) -> nn.Conv2D:
    """Conv2D with ``(k - 1) // 2`` padding and N(0, 0.001) weights."""
    return nn.Conv2D(ch_in, ch_out, kernel_size, stride=stride, padding=(kernel_size - 1) // 2,
                     groups=groups, weight_attr=ParamAttr(initializer=Normal(0.0, 0.001)),
                     bias_attr=None if bias else False)


def _activate(x: paddle.Tensor, act: Optional[str]) -> paddle.Tensor:
    if act == 'relu':
        return F.relu(x)
    if act == 'sigmoid':
        return F.sigmoid(x)
    return x


def _interleave(first: paddle.Tensor, second: paddle.Tensor) -> paddle.Tensor:
    """Concatenate two maps on channels, then channel-shuffle with 2 groups.

    Channel ``2c`` of the result is ``first[:, c]`` and channel ``2c + 1`` is ``second[:, c]``.

    Args:
        first: [N, C, H, W].
        second: [N, C, H, W].

    Returns:
        [N, 2C, H, W].
    """
    return paddle.flatten(paddle.stack([first, second], axis=2), start_axis=1, stop_axis=2)


@lru_cache(maxsize=None)
def _corner_weights(size_out: int, size_in: int) -> np.ndarray:
    """(size_out, size_in) float32 matrix of 1-D linear interpolation with aligned corners:
    output i samples input position ``i * (size_in - 1) / (size_out - 1)``."""
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    positions = np.linspace(0.0, size_in - 1, size_out)
    low = np.minimum(np.floor(positions).astype(int), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = positions - low
    np.add.at(weights, (np.arange(size_out), low), 1.0 - frac)
    np.add.at(weights, (np.arange(size_out), high), frac)
    return weights.astype(np.float32)


def resize_bilinear_corners(x: paddle.Tensor, ref: paddle.Tensor) -> paddle.Tensor:
    """Bilinear resize of ``x`` to the spatial size of ``ref`` with aligned corners.

    Computed as two matrix products with constant interpolation matrices, which equals
    ``F.interpolate(x, size, mode='bilinear', align_corners=True)`` to float rounding and, unlike
    the ``bilinear_interp`` op, runs in the oneDNN PIR predictor of Paddle 3.3. ``x`` goes
    through a reshape first: given a oneDNN conv's output directly, that predictor's matmul
    reads the conv's blocked memory layout as a plain one and returns wrong numbers.

    Args:
        x: [N, C, h, w].
        ref: [N, C', H, W].

    Returns:
        [N, C, H, W].

    Raises:
        ValueError: a spatial size is unknown (-1) while tracing for export.
    """
    sizes = (ref.shape[2], ref.shape[3], x.shape[2], x.shape[3])
    if not all(isinstance(v, int) and v > 0 for v in sizes):
        raise ValueError('LiteHRNet exports with a fixed input size only: give image_shape '
                         '[3, H, W] without -1 (TestReader.inputs_def.image_shape)')
    rows = paddle.to_tensor(_corner_weights(sizes[0], sizes[2]))
    cols = paddle.to_tensor(_corner_weights(sizes[1], sizes[3]).T)
    plain = paddle.reshape(x, [-1, x.shape[1], sizes[2], sizes[3]])
    return paddle.matmul(paddle.matmul(rows, plain), cols)


class LiteConvNorm(nn.Layer):
    """Conv2D, then BatchNorm (when ``norm`` is given), then an optional activation.

    The norm is created before the conv, so a state_dict lists ``norm.*`` before
    ``conv.weight`` (PaddleDetection's order). Without a norm the conv has a bias.

    Args:
        ch_in: input channels C_in.
        ch_out: output channels C_out.
        kernel_size: square kernel size (odd).
        norm: the backbone's BatchNorm builder, or None for a plain conv with bias.
        stride: conv stride.
        groups: conv groups (``ch_in`` for a depthwise conv).
        act: None, ``'relu'`` or ``'sigmoid'``.
    """

    def __init__(self, ch_in: int, ch_out: int, kernel_size: int, norm: Optional[NormBuilder],
                 stride: int = 1, groups: int = 1, act: Optional[str] = None) -> None:
        super().__init__()
        self.act = act
        self.norm = norm(ch_out) if norm is not None else None
        self.conv = _conv(ch_in, ch_out, kernel_size, stride, groups, bias=norm is None)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C_in, H, W] -> [N, C_out, ceil(H / stride), ceil(W / stride)]."""
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        return _activate(out, self.act)


class DepthwiseSeparable(nn.Layer):
    """Depthwise 3x3 + BN (no activation), then pointwise 1x1 + BN + ReLU."""

    def __init__(self, ch_in: int, ch_out: int, norm: NormBuilder) -> None:
        super().__init__()
        self.depthwise_conv = LiteConvNorm(ch_in, ch_in, 3, norm, groups=ch_in)
        self.pointwise_conv = LiteConvNorm(ch_in, ch_out, 1, norm, act='relu')

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C_in, H, W] -> [N, C_out, H, W]."""
        return self.pointwise_conv(self.depthwise_conv(x))


class NearestUpsample(nn.Layer):
    """Nearest-neighbour upsampling by an integer factor (no parameters)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C, H, W] -> [N, C, H * factor, W * factor]."""
        return upsample_nearest(x, self.factor)


def depthwise_pointwise(ch_in: int, ch_out: int, stride: int, norm: NormBuilder,
                        relu: bool) -> nn.Sequential:
    """Depthwise 3x3 (``stride``) + BN, 1x1 conv + BN, optional ReLU: indices 0..3 (+4)."""
    layers = [_conv(ch_in, ch_in, 3, stride, groups=ch_in), norm(ch_in),
              _conv(ch_in, ch_out, 1), norm(ch_out)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Stem(nn.Layer):
    """Stride-4 stem: a stride-2 3x3 conv to ``channels``, then a stride-2 shuffle block.

    One half goes through a stride-2 depthwise 3x3 + BN and a 1x1 conv + BN + ReLU; the other
    through a 1x1 conv + BN + ReLU to ``channels``, a stride-2 depthwise 3x3 + BN and a 1x1 conv
    + BN + ReLU back to half the width; the halves are concatenated and channel-shuffled
    (PaddleDetection's ``Stem(3, 32, 32, expand_ratio=1)``).

    Args:
        channels: channels after the first conv and at the output.
        norm: the backbone's BatchNorm builder.
    """

    def __init__(self, channels: int, norm: NormBuilder) -> None:
        super().__init__()
        half = channels // 2
        self.conv1 = LiteConvNorm(3, channels, 3, norm, stride=2, act='relu')
        self.branch1 = nn.Sequential(
            LiteConvNorm(half, half, 3, norm, stride=2, groups=half),
            LiteConvNorm(half, half, 1, norm, act='relu'))
        self.expand_conv = LiteConvNorm(half, channels, 1, norm, act='relu')
        self.depthwise_conv = LiteConvNorm(channels, channels, 3, norm, stride=2, groups=channels)
        self.linear_conv = LiteConvNorm(channels, half, 1, norm, act='relu')

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, 3, H, W] -> [N, channels, H / 4, W / 4]."""
        x = self.conv1(x)
        x1, x2 = paddle.split(x, 2, axis=1)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return _interleave(self.branch1(x1), x2)


class SpatialWeighting(nn.Layer):
    """Gate each channel by a bottleneck MLP (1x1 convs with bias) on its global mean."""

    def __init__(self, channels: int, ratio: int = SPATIAL_RATIO) -> None:
        super().__init__()
        self.conv1 = LiteConvNorm(channels, channels // ratio, 1, None, act='relu')
        self.conv2 = LiteConvNorm(channels // ratio, channels, 1, None, act='sigmoid')

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C, H, W] -> [N, C, H, W] with every channel multiplied by a gate in (0, 1)."""
        return x * self.conv2(self.conv1(paddle.mean(x, axis=[2, 3], keepdim=True)))


class CrossResolutionWeighting(nn.Layer):
    """Gate every branch by a bottleneck computed from all branches at the coarsest size.

    Each branch is average-pooled to the size of the last (coarsest) one, the results are
    concatenated, passed through 1x1 conv + BN + ReLU and 1x1 conv + BN + sigmoid, split back
    per branch and upsampled (nearest) to multiply their branch.

    Args:
        channels: channels of each branch, finest first.
        ratio: bottleneck width is ``int(sum(channels) / ratio)``.
        norm: the backbone's BatchNorm builder.
    """

    def __init__(self, channels: Sequence[int], ratio: int, norm: NormBuilder) -> None:
        super().__init__()
        self.channels = list(channels)
        total = sum(self.channels)
        self.conv1 = LiteConvNorm(total, int(total / ratio), 1, norm, act='relu')
        self.conv2 = LiteConvNorm(int(total / ratio), total, 1, norm, act='sigmoid')

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B maps [N, C_i, H_i, W_i] (H_i = H_0 / 2^i) -> B maps of the same shapes."""
        last = len(feats) - 1
        pooled = [F.avg_pool2d(x, 2 ** (last - i), stride=2 ** (last - i), ceil_mode=True)
                  for i, x in enumerate(feats[:-1])] + [feats[-1]]
        gates = self.conv2(self.conv1(paddle.concat(pooled, axis=1)))
        gates = paddle.split(gates, self.channels, axis=1)
        return [x * crop_to(upsample_nearest(g, 2 ** (last - i)), x)
                for i, (x, g) in enumerate(zip(feats, gates))]


class ConditionalChannelWeighting(nn.Layer):
    """The LITE block: reweight half of every branch, keep the other half, shuffle.

    Args:
        channels: branch widths, finest first (each even).
        reduce_ratio: bottleneck ratio of the cross-resolution weighting.
        norm: the backbone's BatchNorm builder.
    """

    def __init__(self, channels: Sequence[int], reduce_ratio: int, norm: NormBuilder) -> None:
        super().__init__()
        halves = [c // 2 for c in channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(halves, reduce_ratio, norm)
        self.depthwise_convs = nn.LayerList(
            [LiteConvNorm(c, c, 3, norm, groups=c) for c in halves])
        self.spatial_weighting = nn.LayerList([SpatialWeighting(c) for c in halves])

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B maps [N, C_i, H_i, W_i] -> B maps of the same shapes."""
        splits = [paddle.split(x, 2, axis=1) for x in feats]
        kept = [s[0] for s in splits]
        weighted = self.cross_resolution_weighting([s[1] for s in splits])
        weighted = [sw(dw(x)) for x, dw, sw in
                    zip(weighted, self.depthwise_convs, self.spatial_weighting)]
        return [_interleave(a, b) for a, b in zip(kept, weighted)]


class ShuffleUnit(nn.Layer):
    """ShuffleNetV2 unit at stride 1: half the channels pass, the other half goes through
    1x1 conv + BN + ReLU, depthwise 3x3 + BN, 1x1 conv + BN + ReLU; then a channel shuffle."""

    def __init__(self, channels: int, norm: NormBuilder) -> None:
        super().__init__()
        half = channels // 2
        self.branch2 = nn.Sequential(
            LiteConvNorm(half, half, 1, norm, act='relu'),
            LiteConvNorm(half, half, 3, norm, groups=half),
            LiteConvNorm(half, half, 1, norm, act='relu'))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C, H, W] -> [N, C, H, W]."""
        x1, x2 = paddle.split(x, 2, axis=1)
        return _interleave(x1, self.branch2(x2))


class LiteHRModule(nn.Layer):
    """One module: the blocks (``layers``), then the fuse step (``fuse_layers``).

    The path from branch j to output i, ``P_ij``, is a 1x1 conv + BN + nearest upsampling by
    ``2 ** (j - i)`` for a coarser j, and ``i - j`` stride-2 depthwise-separable steps for a
    finer j (ReLU between them, none after the last). The sums follow PaddleDetection's fuse
    step exactly, which differs from HRNet's ``ReLU(x_i + sum_{j != i} P_ij(x_j))``: its
    running sum counts branch 0 twice and overwrites branch 0 with the fused map before the
    other outputs read it, so with ``z = 2 x_0 + sum_{j > 0} P_0j(x_j)``

    * output 0 is ``ReLU(z)``;
    * output i > 0 is ``ReLU(2 P_i0(z) + x_i + sum_{j > 0, j != i} P_ij(x_j))``.

    The released weights were trained with these sums, so they are kept.

    Args:
        channels: branch widths, finest first.
        module_type: ``'LITE'`` or ``'NAIVE'``.
        num_blocks: blocks per module (LITE) or shuffle units per branch (NAIVE).
        reduce_ratio: LITE cross-resolution bottleneck ratio.
        norm: the backbone's BatchNorm builder.
    """

    def __init__(self, channels: Sequence[int], module_type: str, num_blocks: int,
                 reduce_ratio: int, norm: NormBuilder) -> None:
        super().__init__()
        self.channels = list(channels)
        self.module_type = module_type
        if module_type == 'LITE':
            self.layers = nn.Sequential(*[ConditionalChannelWeighting(channels, reduce_ratio, norm)
                                          for _ in range(num_blocks)])
        else:
            self.layers = nn.LayerList([
                nn.Sequential(*[ShuffleUnit(c, norm) for _ in range(num_blocks)])
                for c in channels])
        self.fuse_layers = nn.LayerList([
            nn.LayerList([self._fuse_path(i, j, norm) for j in range(len(channels))])
            for i in range(len(channels))])

    def _fuse_path(self, i: int, j: int, norm: NormBuilder) -> Optional[nn.Sequential]:
        """The path from branch j to output i (None for the identity)."""
        ch_i, ch_j = self.channels[i], self.channels[j]
        if j > i:
            return nn.Sequential(_conv(ch_j, ch_i, 1), norm(ch_i), NearestUpsample(2 ** (j - i)))
        if j == i:
            return None
        steps = i - j
        return nn.Sequential(*[depthwise_pointwise(ch_j, ch_i if k == steps - 1 else ch_j, 2, norm,
                                      relu=k < steps - 1) for k in range(steps)])

    def _blocks(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        if self.module_type == 'LITE':
            return self.layers(feats)
        return [branch(x) for branch, x in zip(self.layers, feats)]

    def _others(self, i: int, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """``P_ij(x_j)`` for every j other than 0 and i, cropped to branch i's size."""
        row = self.fuse_layers[i]
        return [crop_to(row[j](feats[j]), feats[i]) for j in range(1, len(feats)) if j != i]

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B maps [N, C_i, H_i, W_i] -> B maps of the same shapes."""
        feats = self._blocks(feats)
        fused0 = paddle.add_n([feats[0] * 2.0] + self._others(0, feats))
        outs = [F.relu(fused0)]
        for i in range(1, len(feats)):
            from_finest = self.fuse_layers[i][0](fused0) * 2.0
            outs.append(F.relu(paddle.add_n([from_finest, feats[i]] + self._others(i, feats))))
        return outs


class IterativeHead(nn.Layer):
    """Coarse-to-fine refinement of the last stage's branches.

    From the coarsest branch on, each branch gets the bilinearly upsampled (corners aligned)
    result of the coarser one added, then a depthwise-separable conv that narrows it to the
    next finer branch's width (the finest keeps its width).

    Args:
        channels: last-stage branch widths, finest first.
        norm: the backbone's BatchNorm builder.
    """

    def __init__(self, channels: Sequence[int], norm: NormBuilder) -> None:
        super().__init__()
        coarse_first = list(channels)[::-1]
        widths = coarse_first[1:] + coarse_first[-1:]
        self.projects = nn.LayerList([DepthwiseSeparable(c_in, c_out, norm)
                                      for c_in, c_out in zip(coarse_first, widths)])
        self.out_channels = widths[::-1]

    def forward(self, feats: List[paddle.Tensor]) -> List[paddle.Tensor]:
        """B maps, finest first -> B maps with :attr:`out_channels` channels, finest first."""
        outs: List[paddle.Tensor] = []
        for x, project in zip(feats[::-1], self.projects):
            if outs:
                x = x + resize_bilinear_corners(outs[-1], x)
            outs.append(project(x))
        return outs[::-1]
