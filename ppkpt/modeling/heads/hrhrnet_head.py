"""The HigherHRNet head: heatmaps and associative-embedding tags at 1/4, refined heatmaps at 1/2.

Dimension names: N images, C (``width``) feature channels, K joints, H x W the input image.

The 1/4-resolution backbone feature [N, C, H/4, W/4] goes through ``conv1`` to 2K maps (K
heatmaps, then K tags, one tag channel per joint). The feature and those 2K maps, concatenated,
are upsampled by a stride-2 transposed conv (``deconv``), refined by four basic blocks
(``blocks``) and turned into K heatmaps at 1/2 resolution by ``conv2``.

Sub-layer names, shapes and creation order are PaddleDetection's ``HrHRNetHead`` (state_dict
keys ``conv1.*``, ``conv2.*``, ``deconv.0.weight``, ``deconv.1.*``, ``blocks.i.conv{1,2}.conv``
/ ``.norm``, and with SWAHR ``scalelayer{0,1}.*``), so its ``.pdparams`` load strictly.
"""
from typing import List, Tuple, Union

import paddle
import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.backbones.hrnet import BasicBlock, _NormArgs

__all__ = ['HrHRNetHead', 'upsample_bilinear_2x']

NUM_BLOCKS = 4
SCALE_KERNEL = 9
_SLICE_END = 2 ** 31 - 1  # slice end past any size

# (heatmaps [N, K, H/4, W/4], heatmaps [N, K, H/2, W/2], tags [N, K, H/4, W/4]); with SWAHR the
# two heatmap entries are [heatmaps, scale maps] pairs of same-shaped tensors.
TrainOutputs = Tuple[Union[paddle.Tensor, List[paddle.Tensor]],
                     Union[paddle.Tensor, List[paddle.Tensor]], paddle.Tensor]


def upsample_bilinear_2x(x: paddle.Tensor) -> paddle.Tensor:
    """[N, C, h, w] -> [N, C, 2h, 2w], bilinear with half-pixel centres and clamped edges.

    The same maps as PaddleDetection's ``Upsample(2, mode='bilinear')`` (``F.interpolate`` with
    ``align_corners=False``, ``align_mode=0``), within float32 rounding, built from slices,
    weighted sums and reshapes: Paddle 3.3's inference predictor cannot run the exported
    ``bilinear_interp`` op ("ConvertPirAttribute2RuntimeAttribute not support
    pir::ArrayAttribute<pir::DoubleAttribute>").
    """
    return _double_axis(_double_axis(x, 3), 2)


def _double_axis(x: paddle.Tensor, axis: int) -> paddle.Tensor:
    """Double one spatial axis: output 2i is 3/4 of x[i] + 1/4 of x[i-1], output 2i+1 is 3/4 of
    x[i] + 1/4 of x[i+1], with x[-1] = x[0] and x[n] = x[n-1]."""
    first = paddle.slice(x, [axis], [0], [1])
    last = paddle.slice(x, [axis], [-1], [_SLICE_END])
    previous = paddle.concat([first, paddle.slice(x, [axis], [0], [-1])], axis=axis)
    following = paddle.concat([paddle.slice(x, [axis], [1], [_SLICE_END]), last], axis=axis)
    pairs = paddle.stack([0.75 * x + 0.25 * previous, 0.75 * x + 0.25 * following],
                         axis=axis + 1)
    return paddle.flatten(pairs, start_axis=axis, stop_axis=axis + 1)


def _small_weights() -> ParamAttr:
    """N(0, 0.001) weights, as PaddleDetection starts the head's output convolutions: with the
    default initialisation the first heatmaps sit at the clip of the heatmap loss and get no
    gradient."""
    return ParamAttr(initializer=Normal(0.0, 0.001))


def _zero_bias() -> ParamAttr:
    return ParamAttr(initializer=Constant(0.0))


def _scale_layer(width: int, num_joints: int) -> nn.Sequential:
    """SWAHR scale branch: 1x1 conv (C -> K, bias) + BatchNorm + ReLU + depthwise 9x9 conv (K)."""
    return nn.Sequential(
        nn.Conv2D(width, num_joints, 1),
        nn.BatchNorm2D(num_joints),
        nn.ReLU(),
        nn.Conv2D(num_joints, num_joints, SCALE_KERNEL, padding=SCALE_KERNEL // 2,
                  groups=num_joints))


@register
@serializable
class HrHRNetHead(nn.Layer):
    """HigherHRNet's multi-resolution heatmap + tag head (Cheng et al., 2020).

    Args:
        num_joints: K (shared top-level key).
        width: C, channels of the backbone's first (1/4-resolution) output.
        swahr: add the scale-adaptive heatmap regression branches ``scalelayer0`` (on the 1/4
            feature) and ``scalelayer1`` (on the 1/2 feature); their scale maps go to the loss.
        loss: a built loss layer; the architecture calls ``head.loss(train_outputs, inputs)``
            with :meth:`forward`'s training outputs and the batch, and gets a dict with
            ``'loss'``.
    """

    __category__ = 'head'
    __inject__ = ['loss']
    __shared__ = ['num_joints']

    def __init__(self, num_joints: int, width: int = 32, swahr: bool = False,
                 loss: Union[nn.Layer, str] = 'HrHRNetLoss') -> None:
        super().__init__()
        if not isinstance(loss, nn.Layer):
            raise TypeError(f'HrHRNetHead.loss must be a built layer, got {loss!r}')
        if num_joints < 1 or width < 1:
            raise ValueError(f'HrHRNetHead needs num_joints >= 1 and width >= 1, '
                             f'got {num_joints} and {width}')
        self.num_joints = num_joints
        self.width = width
        self.swahr = swahr
        self.loss = loss
        self.conv1 = nn.Conv2D(width, 2 * num_joints, 1, weight_attr=_small_weights(),
                               bias_attr=_zero_bias())
        self.conv2 = nn.Conv2D(width, num_joints, 1, weight_attr=_small_weights(),
                               bias_attr=_zero_bias())
        self.deconv = nn.Sequential(
            nn.Conv2DTranspose(2 * num_joints + width, width, 4, stride=2, padding=1,
                               weight_attr=_small_weights(), bias_attr=False),
            nn.BatchNorm2D(width),
            nn.ReLU())
        norm = _NormArgs(norm_momentum=0.9, norm_decay=0.0, freeze_norm=False)
        self.blocks = nn.Sequential(*[BasicBlock(width, norm, has_se=False)
                                      for _ in range(NUM_BLOCKS)])
        if swahr:
            self.scalelayer0 = _scale_layer(width, num_joints)
            self.scalelayer1 = _scale_layer(width, num_joints)

    def raw_maps(self, features: List[paddle.Tensor]
                 ) -> Tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
        """The head's three stages on the first of ``features`` ([N, C, H/4, W/4]).

        Returns:
            ``quarter`` [N, 2K, H/4, W/4] (``conv1``: K heatmaps then K tags), ``refined``
            [N, C, H/2, W/2] (``blocks`` output) and ``half`` [N, K, H/2, W/2] (``conv2``
            heatmaps).
        """
        quarter = self.conv1(features[0])
        refined = self.blocks(self.deconv(paddle.concat([features[0], quarter], axis=1)))
        return quarter, refined, self.conv2(refined)

    def forward(self, features: List[paddle.Tensor]
                ) -> Union[TrainOutputs, Tuple[paddle.Tensor, paddle.Tensor]]:
        """Training outputs in train mode, :meth:`predict` in eval mode.

        Args:
            features: backbone outputs; the first is [N, C, H/4, W/4].

        Returns:
            Train mode: ``(heatmaps [N, K, H/4, W/4], heatmaps [N, K, H/2, W/2], tags
            [N, K, H/4, W/4])``; with ``swahr`` the first two are ``[heatmaps, scales]`` pairs
            (scales shaped like their heatmaps), PaddleDetection's ``HrHRNetLoss`` input.
            Eval mode: ``(heatmaps, tags)``, both [N, K, H/2, W/2].
        """
        if not self.training:
            return self.predict(features)
        quarter, refined, half = self.raw_maps(features)
        heatmaps, tags = paddle.split(quarter, 2, axis=1)
        if not self.swahr:
            return heatmaps, half, tags
        return ([heatmaps, self.scalelayer0(features[0])],
                [half, self.scalelayer1(refined)], tags)

    def predict(self, features: List[paddle.Tensor]) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """The inference maps at 1/2 resolution, whatever the mode.

        Returns:
            ``heatmaps`` [N, K, H/2, W/2] = (2x bilinear upsample of the 1/4 heatmaps + the 1/2
            heatmaps) / 2, and ``tags`` [N, K, H/2, W/2] = 2x bilinear upsample of the 1/4 tags.
        """
        quarter, _, half = self.raw_maps(features)
        upsampled = upsample_bilinear_2x(quarter)
        k = self.num_joints
        return (upsampled[:, :k] + half) / 2, upsampled[:, k:]
