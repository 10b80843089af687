"""CenterNet neck and head: a stride-4 feature, then centre heatmap, box size and offset maps.

Decoding is written with paddle ops only, so :meth:`CenterNetHead.predict` can be traced by
``paddle.jit.to_static(full_graph=True)`` for export.
"""
from typing import Dict, List, Sequence, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.backbones.lite_backbone import ConvBNReLU
from ppkpt.modeling.layers import FeatureSpec, crop_to, upsample_nearest

__all__ = ['CenterNetNeck', 'CenterNetHead', 'gather_map_values', 'decode_centernet']

HEATMAP_BIAS = -2.19  # sigmoid(-2.19) ~= 0.1, the CenterNet prior for the centre heatmap


class CenterNetNeck(nn.Layer):
    """Top-down fusion of a feature pyramid into one stride-4 map.

    Every level gets a 1x1 lateral conv to ``out_channels``; starting from the coarsest level the
    running map is upsampled x2, added to the next lateral and refined by a depthwise-separable
    3x3 conv.

    Args:
        in_specs: channels and strides of the inputs, finest first; strides must double.
        out_channels: channels C of the output.
    """

    def __init__(self, in_specs: Sequence[FeatureSpec], out_channels: int) -> None:
        super().__init__()
        strides = [spec.stride for spec in in_specs]
        if not strides or any(b != 2 * a for a, b in zip(strides, strides[1:])):
            raise ValueError(f'CenterNetNeck needs inputs whose strides double, got {strides}')
        self.out_stride = strides[0]
        self.laterals = nn.LayerList(
            [ConvBNReLU(spec.channels, out_channels, kernel_size=1) for spec in in_specs])
        self.smooths = nn.LayerList([
            nn.Sequential(ConvBNReLU(out_channels, out_channels, 3, groups=out_channels),
                          ConvBNReLU(out_channels, out_channels, kernel_size=1))
            for _ in in_specs[:-1]])

    def forward(self, feats: List[paddle.Tensor]) -> paddle.Tensor:
        """Fuse ``feats`` (finest first) into [N, C, H0, W0] at the finest stride."""
        x = self.laterals[-1](feats[-1])
        for level in range(len(feats) - 2, -1, -1):
            lateral = self.laterals[level](feats[level])
            x = crop_to(upsample_nearest(x, 2), lateral) + lateral
            x = self.smooths[level](x)
        return x


def _branch(in_channels: int, head_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2D(in_channels, head_channels, 3, padding=1),
        nn.ReLU(),
        nn.Conv2D(head_channels, out_channels, 1))


@register
@serializable
class CenterNetHead(nn.Layer):
    """Three conv branches on the stride-4 feature: heatmap logits, box size and centre offset.

    Args:
        in_channels: channels of the input feature.
        num_classes: number of object classes C (heatmap channels).
        head_channels: hidden channels of each branch.
    """

    __category__ = 'head'
    __shared__ = ['num_classes']

    def __init__(self, in_channels: int, num_classes: int = 1, head_channels: int = 64) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'CenterNetHead.num_classes must be >= 1, got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.heatmap = _branch(in_channels, head_channels, num_classes)
        self.size = _branch(in_channels, head_channels, 2)
        self.offset = _branch(in_channels, head_channels, 2)
        last = self.heatmap[-1]
        last.bias.set_value(paddle.full_like(last.bias, HEATMAP_BIAS))

    def forward(self, feat: paddle.Tensor) -> Dict[str, paddle.Tensor]:
        """Apply the branches to ``feat`` [N, in_channels, Ho, Wo].

        Returns:
            ``heatmap`` [N, C, Ho, Wo] logits (sigmoid gives centre probability),
            ``size`` [N, 2, Ho, Wo] box (w, h) in output pixels,
            ``offset`` [N, 2, Ho, Wo] sub-pixel centre offset (x, y) in output pixels.
        """
        return {'heatmap': self.heatmap(feat), 'size': self.size(feat),
                'offset': self.offset(feat)}


def gather_map_values(maps: paddle.Tensor, pixel: paddle.Tensor) -> paddle.Tensor:
    """Values of ``maps`` [N, D, H, W] at flat pixel indices ``pixel`` [N, k] -> [N, k, D]."""
    d = maps.shape[1]
    flat = paddle.reshape(maps, [0, d, -1])
    index = paddle.expand(paddle.unsqueeze(pixel, 1), [-1, d, pixel.shape[1]])
    return paddle.transpose(paddle.take_along_axis(flat, index, axis=2), [0, 2, 1])


def _topk_count(heat: paddle.Tensor, max_per_img: int) -> int:
    """k for top-k: ``max_per_img``, capped by C*H*W when the map size is static."""
    dims = list(heat.shape[1:])
    if all(isinstance(d, int) and d > 0 for d in dims):
        return min(max_per_img, dims[0] * dims[1] * dims[2])
    return max_per_img


def decode_centernet(heatmap: paddle.Tensor, size: paddle.Tensor, offset: paddle.Tensor,
                     scale_factor: paddle.Tensor, stride: int, max_per_img: int = 100
                     ) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """Turn head outputs into boxes in original image pixels (3x3 max-pool peaks, no NMS).

    Args:
        heatmap: [N, C, Ho, Wo] logits.
        size: [N, 2, Ho, Wo] box (w, h) in output pixels.
        offset: [N, 2, Ho, Wo] centre offset (x, y) in output pixels.
        scale_factor: [N, 2] float32 (h_ratio, w_ratio) = network input size / original size.
        stride: input pixels per output pixel.
        max_per_img: boxes kept per image (top-k over all classes and positions).

    Returns:
        ``bbox`` [N * k, 6] float32 rows (class_id, score, x1, y1, x2, y2) in original pixels,
        images in order and scores descending within an image; ``bbox_num`` [N] int32, all k.
    """
    heat = F.sigmoid(heatmap)
    peaks = F.max_pool2d(heat, kernel_size=3, stride=1, padding=1)
    heat = heat * paddle.cast(peaks == heat, heat.dtype)
    k = _topk_count(heatmap, max_per_img)
    scores, inds = paddle.topk(paddle.reshape(heat, [0, -1]), k, axis=1)
    area = paddle.shape(heatmap)[2] * paddle.shape(heatmap)[3]
    classes = paddle.cast(inds // area, 'float32')
    pixel = inds % area
    width = paddle.shape(heatmap)[3]
    xs = paddle.cast(pixel % width, 'float32')
    ys = paddle.cast(pixel // width, 'float32')
    wh = gather_map_values(size, pixel)
    off = gather_map_values(offset, pixel)
    cx = (xs + off[:, :, 0]) * stride
    cy = (ys + off[:, :, 1]) * stride
    half_w = wh[:, :, 0] * (stride / 2.0)
    half_h = wh[:, :, 1] * (stride / 2.0)
    ratio_h = paddle.unsqueeze(scale_factor[:, 0], 1)
    ratio_w = paddle.unsqueeze(scale_factor[:, 1], 1)
    boxes = paddle.stack([classes, scores, (cx - half_w) / ratio_w, (cy - half_h) / ratio_h,
                          (cx + half_w) / ratio_w, (cy + half_h) / ratio_h], axis=2)
    bbox = paddle.reshape(boxes, [-1, 6])
    bbox_num = paddle.full_like(scores[:, 0], k, dtype='int32')
    return bbox, bbox_num

