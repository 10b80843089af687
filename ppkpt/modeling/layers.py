"""Small building blocks shared by the models: conv + norm, SE gating, exact nearest upsampling.

Parameter names follow PaddleDetection (``conv``/``norm`` inside :class:`ConvNormLayer`,
``squeeze``/``excitation`` inside :class:`SELayer`) so released weights load by name.
"""
from contextlib import contextmanager
from typing import Iterator, List, NamedTuple, Optional

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Normal, Uniform
from paddle.regularizer import L2Decay

__all__ = ['FeatureSpec', 'batch_norm', 'ConvNormLayer', 'SELayer', 'upsample_nearest',
           'resize_upsampling', 'crop_to', 'freeze_groups']

ACTIVATIONS = (None, 'relu')
_UPSAMPLING = {'resize': False}
"""Whether :func:`upsample_nearest` traces ``interpolate`` (see :func:`resize_upsampling`)."""


class FeatureSpec(NamedTuple):
    """Channels and stride (input pixels per feature pixel) of one backbone output."""

    channels: int
    stride: int


def batch_norm(channels: int, momentum: float = 0.9, decay: float = 0.0,
               freeze: bool = False) -> nn.BatchNorm2D:
    """BatchNorm2D with L2 ``decay`` on its scale and offset; ``freeze``: it uses its stored
    statistics in training too and its scale and offset are not trained."""
    lr = 0.0 if freeze else 1.0
    norm = nn.BatchNorm2D(
        channels, momentum=momentum,
        weight_attr=ParamAttr(learning_rate=lr, regularizer=L2Decay(decay)),
        bias_attr=ParamAttr(learning_rate=lr, regularizer=L2Decay(decay)),
        use_global_stats=True if freeze else None)
    if freeze:
        for param in norm.parameters():
            param.stop_gradient = True
    return norm


class ConvNormLayer(nn.Layer):
    """Conv2D without bias, BatchNorm, then an optional ReLU.

    Padding is ``(kernel_size - 1) // 2``, so a stride-1 conv keeps the spatial size and a
    stride-2 conv gives ``ceil(H / 2)``.

    Args:
        ch_in: input channels C_in.
        ch_out: output channels C_out.
        kernel_size: square kernel size (odd).
        stride: conv stride.
        act: ``'relu'`` or None.
        norm_momentum: BatchNorm moving-average momentum (Paddle convention: weight of the old
            statistic).
        norm_decay: L2 decay applied to the BatchNorm scale and offset.
        freeze_norm: use the stored statistics in training too and do not train the BatchNorm
            scale and offset.
    """

    def __init__(self, ch_in: int, ch_out: int, kernel_size: int, stride: int = 1,
                 act: Optional[str] = None, norm_momentum: float = 0.9, norm_decay: float = 0.0,
                 freeze_norm: bool = False) -> None:
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f'ConvNormLayer act must be one of {ACTIVATIONS}, got {act!r}')
        self.act = act
        self.conv = nn.Conv2D(ch_in, ch_out, kernel_size, stride=stride,
                              padding=(kernel_size - 1) // 2,
                              weight_attr=ParamAttr(initializer=Normal(0.0, 0.01)),
                              bias_attr=False)
        self.norm = batch_norm(ch_out, norm_momentum, norm_decay, freeze_norm)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C_in, H, W] -> [N, C_out, H / stride, W / stride] (rounded up)."""
        out = self.norm(self.conv(x))
        if self.act == 'relu':
            out = F.relu(out)
        return out


class SELayer(nn.Layer):
    """Squeeze-and-excitation: scale each channel by a gate computed from global pooling.

    Args:
        channels: channels C of the input and output.
        reduction: hidden width is ``channels // reduction``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.squeeze = nn.Linear(channels, hidden, weight_attr=_uniform_attr(channels))
        self.excitation = nn.Linear(hidden, channels, weight_attr=_uniform_attr(hidden))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """[N, C, H, W] -> [N, C, H, W] with every channel multiplied by a gate in (0, 1)."""
        pooled = paddle.mean(x, axis=[2, 3])
        gate = F.sigmoid(self.excitation(F.relu(self.squeeze(pooled))))
        return x * gate.unsqueeze([2, 3])


def _uniform_attr(fan_in: int) -> ParamAttr:
    bound = 1.0 / float(fan_in) ** 0.5
    return ParamAttr(initializer=Uniform(-bound, bound))


def upsample_nearest(x: paddle.Tensor, factor: int) -> paddle.Tensor:
    """Nearest-neighbour upsampling by an integer factor, built from ``expand`` + ``reshape``.

    Every pixel becomes a ``factor`` x ``factor`` block: [N, C, H, 1, W, 1] is broadcast to
    [N, C, H, f, W, f] and reshaped. Numerically identical to
    ``F.interpolate(x, scale_factor=factor, mode='nearest')``, but it exports without the
    ``nearest_interp`` op, which the oneDNN PIR predictor of Paddle 3.3 cannot run, and without
    ``repeat_interleave``, which onnxruntime rejects; it is also about 2x faster than
    ``interpolate`` (forward + backward) on CPU. Inside :func:`resize_upsampling` (the ONNX
    export) a static-sized input takes ``interpolate`` instead, which becomes ONNX ``Resize``.

    Args:
        x: [N, C, H, W].
        factor: integer scale factor >= 1.

    Returns:
        [N, C, H * factor, W * factor].
    """
    if factor == 1:
        return x
    height, width = x.shape[2], x.shape[3]
    if _UPSAMPLING['resize'] and height > 0 and width > 0:
        return F.interpolate(x, size=[height * factor, width * factor], mode='nearest')
    blocks = paddle.expand(paddle.unsqueeze(x, [3, 5]), [-1, -1, -1, factor, -1, factor])
    if height > 0 and width > 0:
        return paddle.reshape(blocks, [0, 0, height * factor, width * factor])
    size = paddle.shape(x)
    return paddle.reshape(blocks, paddle.concat([size[:2], size[2:] * factor]))


@contextmanager
def resize_upsampling() -> Iterator[None]:
    """While active, :func:`upsample_nearest` on inputs of known size uses
    ``F.interpolate(size=...)`` (the same numbers).

    For tracing a model to ONNX: paddle2onnx turns it into one ``Resize`` node, which
    onnxruntime runs about 1.3x faster over a whole TinyPose than the ``Unsqueeze`` +
    ``Expand`` + ``Reshape`` of the default path (docs/deploy.md). Paddle Inference
    exports keep the default path (its oneDNN predictor cannot run ``nearest_interp``).
    """
    previous = _UPSAMPLING['resize']
    _UPSAMPLING['resize'] = True
    try:
        yield
    finally:
        _UPSAMPLING['resize'] = previous


def crop_to(x: paddle.Tensor, ref: paddle.Tensor) -> paddle.Tensor:
    """Cut ``x`` [N, C, H', W'] to the spatial size [H, W] of ``ref`` when H' > H or W' > W.

    Upsampling a stride-2 feature map whose source size was odd gives one extra row or column;
    dropping it matches nearest interpolation to the odd size. When a size is unknown while
    tracing (-1), ``x`` is returned unchanged.
    """
    height, width = ref.shape[2], ref.shape[3]
    if height < 0 or width < 0 or (x.shape[2] == height and x.shape[3] == width):
        return x
    return x[:, :, :height, :width]


def freeze_groups(groups: List[List[nn.Layer]], freeze_at: int) -> None:
    """Stop the gradient of every parameter in ``groups[0 .. freeze_at]`` (-1 freezes none)."""
    for group in groups[:freeze_at + 1]:
        for layer in group:
            for param in layer.parameters():
                param.stop_gradient = True
