"""Mean squared error between predicted and target heatmaps, weighted per joint."""
from typing import Dict, Mapping

import paddle
import paddle.nn as nn

from ppkpt.core.workspace import register, serializable

__all__ = ['KeyPointMSELoss']


@register
@serializable
class KeyPointMSELoss(nn.Layer):
    """Heatmap MSE averaged over joints, as used to train top-down HRNet.

    For every joint k the loss is ``loss_scale * mean((w_k * pred_k - w_k * gt_k) ** 2)`` over
    the batch and heatmap pixels; the result is the mean over the K joints. Since every joint has
    the same number of pixels this equals ``loss_scale`` times the mean over all elements.

    Args:
        use_target_weight: multiply prediction and target by ``target_weight`` (0 hides a joint
            that is unlabelled or outside the crop).
        loss_scale: factor on the MSE (0.5 in HRNet, 1.0 in TinyPose/ViTPose).
    """

    __category__ = 'loss'

    def __init__(self, use_target_weight: bool = True, loss_scale: float = 0.5) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_scale = loss_scale

    def forward(self, heatmaps: paddle.Tensor, inputs: Mapping[str, paddle.Tensor]
                ) -> Dict[str, paddle.Tensor]:
        """Compute the loss.

        Args:
            heatmaps: predictions [N, K, H, W].
            inputs: ``'target'`` [N, K, H, W] and, with ``use_target_weight``,
                ``'target_weight'`` [N, K, 1].

        Returns:
            ``{'loss': scalar Tensor}``.
        """
        target = _require(inputs, 'target')
        if list(target.shape) != list(heatmaps.shape):
            raise ValueError(f"KeyPointMSELoss: inputs['target'] has shape {list(target.shape)} "
                             f'but the heatmaps have shape {list(heatmaps.shape)}')
        diff = heatmaps - target.astype(heatmaps.dtype)
        if self.use_target_weight:
            weight = _require(inputs, 'target_weight').astype(heatmaps.dtype)
            diff = diff * weight.unsqueeze(-1)
        return {'loss': self.loss_scale * paddle.mean(paddle.square(diff))}


def _require(inputs: Mapping[str, paddle.Tensor], key: str) -> paddle.Tensor:
    if key not in inputs:
        raise KeyError(f"KeyPointMSELoss needs inputs['{key}'], got keys {sorted(inputs)}")
    return inputs[key]
