"""The top-down heatmap head: a 1x1 conv to K heatmaps, their loss, flip test and decoding.

Dimension names: N crops, C feature channels, K joints, H x W heatmap rows x columns.
"""
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.initializer import Constant, Normal

from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.core.workspace import register, serializable
from ppkpt.geometry import flip_permutation

__all__ = ['TopDownHeatmapHead']


@register
@serializable
class TopDownHeatmapHead(nn.Layer):
    """K heatmaps from the stride-4 features, trained with ``loss`` and decoded by ``codec``.

    The head's own parameters are ``weight`` [K, C, 1, 1] and ``bias`` [K]; architectures keep
    it under :attr:`state_name` (``final_conv``), so checkpoints use PaddleDetection's names
    ``final_conv.weight`` / ``final_conv.bias``.

    Args:
        in_channels: C, channels of the first backbone output.
        num_joints: K (shared top-level key).
        codec: the run's heatmap codec (the top-level ``codec:`` key; it cannot be set here).
        loss: a loss layer called as ``loss(heatmaps, inputs)`` returning ``{'loss': ...}``.
        flip_perm: [left, right] joint pairs swapped by a horizontal flip (shared); ``[]`` for
            a keypoint set without symmetry. Required when ``flip_test`` is on.
        flip_test: at evaluation, average the heatmaps of the crop and of its mirror image;
            the codec decides how the mirrored heatmaps are aligned (``codec.flip_shift``).
    """

    __category__ = 'head'
    __inject__ = ['loss']
    __shared__ = ['num_joints', 'codec', 'flip_perm']
    __shared_only__ = ['codec']
    state_name = 'final_conv'

    def __init__(self, in_channels: int, num_joints: int, codec: HeatmapCodec,
                 loss: Union[nn.Layer, str] = 'KeyPointMSELoss',
                 flip_perm: Optional[List[List[int]]] = None, flip_test: bool = True) -> None:
        super().__init__()
        if not isinstance(loss, nn.Layer):
            raise TypeError(f'TopDownHeatmapHead.loss must be a built layer, got {loss!r}')
        if num_joints < 1 or in_channels < 1:
            raise ValueError(f'TopDownHeatmapHead needs num_joints >= 1 and in_channels >= 1, '
                             f'got {num_joints} and {in_channels}')
        if flip_test and flip_perm is None:
            raise ValueError('TopDownHeatmapHead.flip_test is on but flip_perm is not set; give '
                             'the [left, right] joint pairs (or [] for no symmetric joints)')
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.codec = codec
        self.loss = loss
        self.flip_test = flip_test
        self.flip_pairs = [list(pair) for pair in flip_perm or []]
        self.flip_index = flip_permutation(self.flip_pairs, num_joints)
        self.weight = self.create_parameter(
            [num_joints, in_channels, 1, 1], default_initializer=Normal(0.0, 0.001))
        self.bias = self.create_parameter([num_joints], is_bias=True,
                                          default_initializer=Constant(0.0))

    def forward(self, features: List[paddle.Tensor]) -> paddle.Tensor:
        """[N, C, H, W] (the first of ``features``) -> [N, K, H, W] heatmaps."""
        return F.conv2d(features[0], self.weight, self.bias)

    def compute_loss(self, heatmaps: paddle.Tensor, inputs: Mapping[str, Any]
                     ) -> Dict[str, paddle.Tensor]:
        """The loss dict for [N, K, H, W] ``heatmaps`` against ``inputs['target']``.

        Raises:
            ValueError: when the heatmaps are not the codec's ``heatmap_size``.
        """
        self.codec.check_heatmap_size(heatmaps.shape)
        return self.loss(heatmaps, inputs)

    def merge_flip(self, plain: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
        """Average (N, K, H, W) heatmaps with those of the mirrored crops, mirrored back and
        aligned as the codec says (:meth:`HeatmapCodec.merge_flip`, which deploy calls too)."""
        return self.codec.merge_flip(plain, mirrored, self.flip_pairs)

    def decode(self, heatmaps: np.ndarray, centers: np.ndarray, scales_px: np.ndarray
               ) -> Dict[str, np.ndarray]:
        """Keypoints in image pixels through the codec.

        Args:
            heatmaps: (N, K, H, W) heatmaps.
            centers: (N, 2) crop centres in image pixels.
            scales_px: (N, 2) crop sizes (w, h) in image pixels.

        Returns:
            ``{'keypoint': (N, K, 3) (x, y, score), 'score': (N,) mean joint score}``.
        """
        keypoints = self.codec.decode_to_image(heatmaps, centers, scales_px)
        return {'keypoint': keypoints, 'score': keypoints[:, :, 2].mean(axis=1)}
