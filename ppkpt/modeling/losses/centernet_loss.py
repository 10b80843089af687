"""CenterNet training loss: penalty-reduced focal loss on the heatmap, L1 on size and offset."""
from typing import Dict

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.heads.centernet_head import gather_map_values

__all__ = ['CenterNetLoss', 'centernet_focal_loss', 'masked_l1_loss']


def centernet_focal_loss(logits: paddle.Tensor, target: paddle.Tensor, alpha: float = 2.0,
                         beta: float = 4.0) -> paddle.Tensor:
    """Penalty-reduced pixel-wise focal loss (CornerNet/CenterNet), normalised by the peaks.

    With p = sigmoid(logits) and y = target, peaks (y == 1) cost ``-(1-p)^alpha * log(p)`` and
    other pixels cost ``-(1-y)^beta * p^alpha * log(1-p)``. ``log`` uses ``log_sigmoid`` so the
    loss stays finite for saturated logits.

    Args:
        logits: [N, C, H, W] heatmap logits.
        target: [N, C, H, W] gaussian target in [0, 1], exactly 1 at object centres.

    Returns:
        0-D tensor: summed loss / max(number of peaks, 1).
    """
    prob = F.sigmoid(logits)
    pos = paddle.cast(target >= 1.0, logits.dtype)
    neg = 1.0 - pos
    pos_term = F.log_sigmoid(logits) * paddle.pow(1.0 - prob, alpha) * pos
    neg_term = (F.log_sigmoid(-logits) * paddle.pow(prob, alpha)
                * paddle.pow(1.0 - target, beta) * neg)
    num_pos = paddle.clip(paddle.sum(pos), min=1.0)
    return -(paddle.sum(pos_term) + paddle.sum(neg_term)) / num_pos


def masked_l1_loss(pred: paddle.Tensor, index: paddle.Tensor, mask: paddle.Tensor,
                   target: paddle.Tensor) -> paddle.Tensor:
    """Mean L1 error of a 2-channel map sampled at object centres.

    Args:
        pred: [N, 2, H, W] predicted map.
        index: [N, M] int64 flat centre index ``y * W + x`` in the map.
        mask: [N, M] float32, 1 for real objects and 0 for padding.
        target: [N, M, 2] float32 targets.

    Returns:
        0-D tensor: sum of |pred - target| over real objects / (2 * number of objects + 1e-4).
    """
    sampled = gather_map_values(pred, index)
    weight = paddle.unsqueeze(mask, 2)
    total = paddle.sum(paddle.abs(sampled - target) * weight)
    return total / (paddle.sum(weight) * pred.shape[1] + 1e-4)


@register
@serializable
class CenterNetLoss(nn.Layer):
    """Weighted sum of the heatmap focal loss and the size / offset L1 losses.

    Args:
        heatmap_weight: weight of the focal loss.
        size_weight: weight of the box-size L1 loss.
        offset_weight: weight of the centre-offset L1 loss.
        alpha: focal exponent on the prediction.
        beta: exponent of the penalty reduction around centres.
    """

    __category__ = 'loss'

    def __init__(self, heatmap_weight: float = 1.0, size_weight: float = 0.1,
                 offset_weight: float = 1.0, alpha: float = 2.0, beta: float = 4.0) -> None:
        super().__init__()
        self.heatmap_weight = heatmap_weight
        self.size_weight = size_weight
        self.offset_weight = offset_weight
        self.alpha = alpha
        self.beta = beta

    def forward(self, outputs: Dict[str, paddle.Tensor], inputs: Dict[str, paddle.Tensor]
                ) -> Dict[str, paddle.Tensor]:
        """Compute the losses.

        Args:
            outputs: head outputs ``heatmap`` [N, C, H, W], ``size`` and ``offset`` [N, 2, H, W].
            inputs: batch with ``heatmap`` [N, C, H, W], ``size`` and ``offset`` [N, M, 2],
                ``index`` [N, M] int64 and ``index_mask`` [N, M] float32
                (see :class:`ppkpt.data.transforms.detection.CenterNetTarget`).

        Returns:
            ``loss`` (weighted total), ``heatmap_loss``, ``size_loss``, ``offset_loss``;
            the parts are unweighted 0-D tensors.
        """
        missing = [k for k in ('heatmap', 'size', 'offset', 'index', 'index_mask')
                   if k not in inputs]
        if missing:
            raise KeyError(f'CenterNetLoss: batch is missing {missing}; add CenterNetTarget '
                           'to the training transforms')
        index = paddle.cast(inputs['index'], 'int64')
        mask = paddle.cast(inputs['index_mask'], 'float32')
        heatmap_loss = centernet_focal_loss(outputs['heatmap'], inputs['heatmap'],
                                            self.alpha, self.beta)
        size_loss = masked_l1_loss(outputs['size'], index, mask, inputs['size'])
        offset_loss = masked_l1_loss(outputs['offset'], index, mask, inputs['offset'])
        loss = (self.heatmap_weight * heatmap_loss + self.size_weight * size_loss
                + self.offset_weight * offset_loss)
        return {'loss': loss, 'heatmap_loss': heatmap_loss, 'size_loss': size_loss,
                'offset_loss': offset_loss}
