"""HigherHRNet losses: masked heatmap MSE (optionally scale-adaptive) and the associative
embedding pull/push loss, all batched tensor operations (no per-person loop, no host sync).

Dimension names: N images, K joints, M tag slots per image (``max_num_people``), H x W map.
"""
from typing import Dict, Mapping, Sequence, Tuple, Union

import paddle
import paddle.nn as nn

from ppkpt.core.workspace import register, serializable

__all__ = ['AELoss', 'HeatMapLoss', 'HeatMapSWAHRLoss', 'HrHRNetLoss']

Outputs = Union[paddle.Tensor, Sequence[paddle.Tensor]]


class AELoss(nn.Layer):
    """Associative-embedding loss (Newell et al. 2017) with PaddleDetection's normalisation.

    For every image, with ``e_pk`` the tag of person p's labelled joint k and ``m_p`` the mean
    of person p's tags over its n_p labelled joints:

    * pull = ``sum_p mean_k (e_pk - m_p)^2 / max(#{p : n_p >= 2}, 1)`` (a one-joint person adds
      0 and is left out of the count);
    * push = ``sum_{p != q} exp(-(m_p - m_q)^2) / (2 P (P - 1))`` over the P people with
      ``n_p >= 1``, and 0 when P < 2.

    Both are averaged over the N images (an image without people counts as 0) and multiplied
    by their factors.

    Args:
        pull_factor: weight of the pull term.
        push_factor: weight of the push term.
    """

    def __init__(self, pull_factor: float = 0.001, push_factor: float = 0.001) -> None:
        super().__init__()
        self.pull_factor = pull_factor
        self.push_factor = push_factor

    def forward(self, tags: paddle.Tensor, tagmap: paddle.Tensor
                ) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """Pull and push losses of a batch.

        Args:
            tags: [N, K, H, W] predicted tags, one per joint and pixel.
            tagmap: [N, M, K, 2] int64: per tag slot and joint the flat index ``y * W + x``
                into the [H, W] map and a 1/0 valid flag (``AssociativeEmbeddingCodec``).

        Returns:
            (pull, push) scalar Tensors.
        """
        embeddings, valid = _gather_tags(tags, tagmap)
        joints = valid.sum(axis=-1)                                     # [N, M]
        means = (embeddings * valid).sum(axis=-1) / paddle.clip(joints, min=1.0)
        spread = (paddle.square(embeddings - means.unsqueeze(-1)) * valid).sum(axis=-1)
        pull_per_person = spread / paddle.clip(joints, min=1.0)
        grouped = (joints >= 2).astype(tags.dtype).sum(axis=-1)
        pull = pull_per_person.sum(axis=-1) / paddle.clip(grouped, min=1.0)

        present = (joints > 0).astype(tags.dtype)                       # [N, M]
        people = present.sum(axis=-1)
        pairs = present.unsqueeze(2) * present.unsqueeze(1)
        pairs = pairs * (1.0 - paddle.eye(pairs.shape[-1], dtype=tags.dtype))
        closeness = paddle.exp(-paddle.square(means.unsqueeze(2) - means.unsqueeze(1)))
        push = (closeness * pairs).sum(axis=[1, 2]) / paddle.clip(
            2.0 * people * (people - 1.0), min=1.0)
        return self.pull_factor * pull.mean(), self.push_factor * push.mean()


def _gather_tags(tags: paddle.Tensor, tagmap: paddle.Tensor
                 ) -> Tuple[paddle.Tensor, paddle.Tensor]:
    """[N, M, K] tags at the ``tagmap`` positions and [N, M, K] float valid flags."""
    if tags.ndim != 4 or tagmap.ndim != 4 or tagmap.shape[-1] != 2:
        raise ValueError(f'AELoss: expected tags [N, K, H, W] and tagmap [N, M, K, 2], got '
                         f'{list(tags.shape)} and {list(tagmap.shape)}')
    if tagmap.shape[0] != tags.shape[0] or tagmap.shape[2] != tags.shape[1]:
        raise ValueError(f'AELoss: tagmap {list(tagmap.shape)} does not match tags '
                         f'{list(tags.shape)} (N and K must agree)')
    num, joints = tags.shape[0], tags.shape[1]
    flat = tags.reshape([num, joints, -1])
    index = tagmap[..., 0].astype('int64').transpose([0, 2, 1])         # [N, K, M]
    embeddings = paddle.take_along_axis(flat, index, axis=2).transpose([0, 2, 1])
    return embeddings, (tagmap[..., 1] > 0).astype(tags.dtype)


class HeatMapLoss(nn.Layer):
    """Masked heatmap MSE: ``factor * mean(clip((pred - gt)^2 * mask, 0, 2))``.

    Args:
        loss_factor: weight of the loss.
    """

    def __init__(self, loss_factor: float = 1.0) -> None:
        super().__init__()
        self.loss_factor = loss_factor

    def forward(self, heatmaps: paddle.Tensor, target: paddle.Tensor, mask: paddle.Tensor
                ) -> paddle.Tensor:
        """Args: heatmaps, target [N, K, H, W]; mask [N, H, W] (1 = counted). Returns a scalar."""
        error = paddle.square(heatmaps - target) * _mask(mask, heatmaps)
        return self.loss_factor * paddle.clip(error, 0.0, 2.0).mean()


class HeatMapSWAHRLoss(nn.Layer):
    """Scale- and weight-adaptive heatmap loss (SWAHR, Luo et al. 2021), PaddleDetection's form.

    With a predicted scale map s, the target becomes
    ``gt_s = 0.5 * gt * (1 + (1 + (s - 1) * log(gt)) ** 2)`` where gt > 0 (``gt`` elsewhere),
    the per-pixel weight ``w = gt_s^0.01 * |1 - pred| + |pred| * (1 - gt_s^0.01)``, and the loss
    ``factor * (mean((pred - gt_s)^2 * mask * w) + mean(((s - 1) * [gt > 0])^2))``.

    Args:
        loss_factor: weight of the loss.
    """

    def __init__(self, loss_factor: float = 1.0) -> None:
        super().__init__()
        self.loss_factor = loss_factor

    def forward(self, heatmaps: paddle.Tensor, scales: paddle.Tensor, target: paddle.Tensor,
                mask: paddle.Tensor) -> paddle.Tensor:
        """Args: heatmaps, scales, target [N, K, H, W]; mask [N, H, W]. Returns a scalar."""
        positive = target > 0
        adapted = 0.5 * target * (1.0 + paddle.square(
            1.0 + (scales - 1.0) * paddle.log(target + 1e-10)))
        scaled = paddle.where(positive, adapted, target)  # where: no 0 * inf gradient at gt 0
        soft = paddle.pow(scaled, 0.01)
        weight = soft * paddle.abs(1.0 - heatmaps) + paddle.abs(heatmaps) * (1.0 - soft)
        error = paddle.square(heatmaps - scaled) * _mask(mask, heatmaps) * weight
        regulariser = paddle.square((scales - 1.0) * positive.astype(scales.dtype)).mean()
        return self.loss_factor * (error.mean() + regulariser)


def _mask(mask: paddle.Tensor, heatmaps: paddle.Tensor) -> paddle.Tensor:
    """[N, 1, H, W] float mask broadcast over the joints of ``heatmaps`` [N, K, H, W]."""
    if list(mask.shape) != [heatmaps.shape[0]] + list(heatmaps.shape[2:]):
        raise ValueError(f'HrHRNetLoss: mask {list(mask.shape)} does not match heatmaps '
                         f'{list(heatmaps.shape)}; expected [N, H, W]')
    return mask.astype(heatmaps.dtype).unsqueeze(1)


@register
@serializable
class HrHRNetLoss(nn.Layer):
    """HigherHRNet training loss: heatmap losses at 1/4 and 1/2 resolution plus the AE loss.

    ``loss = heatmap_loss + pull_loss + push_loss`` with ``heatmap_loss`` the sum of the two
    resolutions' :class:`HeatMapLoss` (or :class:`HeatMapSWAHRLoss` with ``swahr``) and the
    pull/push terms of :class:`AELoss` on the 1/4-resolution tags.

    Args:
        num_joints: K, checked against the heatmap channels.
        swahr: use the scale-adaptive loss; the first two outputs are then
            (heatmaps, scale maps) pairs.
        heatmap_factor: weight of each heatmap loss.
        pull_factor: weight of the pull term.
        push_factor: weight of the push term.
    """

    __category__ = 'loss'
    __shared__ = ['num_joints']

    def __init__(self, num_joints: int, swahr: bool = False, heatmap_factor: float = 1.0,
                 pull_factor: float = 0.001, push_factor: float = 0.001) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.swahr = swahr
        self.heatmap_loss = (HeatMapSWAHRLoss(heatmap_factor) if swahr
                             else HeatMapLoss(heatmap_factor))
        self.ae_loss = AELoss(pull_factor, push_factor)

    def forward(self, outputs: Sequence[Outputs], inputs: Mapping[str, paddle.Tensor]
                ) -> Dict[str, paddle.Tensor]:
        """Compute the losses.

        Args:
            outputs: (heatmaps 1/4 [N, K, H4, W4], heatmaps 1/2 [N, K, H2, W2], tags
                [N, K, H4, W4]); with ``swahr`` each heatmap entry is a (heatmaps, scales) pair
                of equal shapes.
            inputs: ``heatmap_gt1x`` [N, K, H4, W4], ``heatmap_gt2x`` [N, K, H2, W2],
                ``mask_1x`` [N, H4, W4], ``mask_2x`` [N, H2, W2], ``tagmap`` [N, M, K, 2].

        Returns:
            ``loss``, ``heatmap_loss``, ``pull_loss`` and ``push_loss`` scalar Tensors.
        """
        if len(outputs) != 3:
            raise ValueError(f'HrHRNetLoss: expected 3 outputs (heatmaps 1/4, heatmaps 1/2, '
                             f'tags), got {len(outputs)}')
        quarter, half, tags = outputs
        heatmap_loss = (self._heatmap_loss(quarter, inputs, '1x')
                        + self._heatmap_loss(half, inputs, '2x'))
        pull, push = self.ae_loss(tags, _require(inputs, 'tagmap'))
        return {'loss': heatmap_loss + pull + push, 'heatmap_loss': heatmap_loss,
                'pull_loss': pull, 'push_loss': push}

    def _heatmap_loss(self, output: Outputs, inputs: Mapping[str, paddle.Tensor],
                      suffix: str) -> paddle.Tensor:
        """The heatmap loss of one resolution (``suffix`` '1x' or '2x')."""
        target = _require(inputs, f'heatmap_gt{suffix}')
        mask = _require(inputs, f'mask_{suffix}')
        if self.swahr:
            heatmaps, scales = output
            self._check(heatmaps, target, suffix)
            return self.heatmap_loss(heatmaps, scales, target.astype(heatmaps.dtype), mask)
        self._check(output, target, suffix)
        return self.heatmap_loss(output, target.astype(output.dtype), mask)

    def _check(self, heatmaps: paddle.Tensor, target: paddle.Tensor, suffix: str) -> None:
        if heatmaps.shape[1] != self.num_joints or list(heatmaps.shape) != list(target.shape):
            raise ValueError(f'HrHRNetLoss: heatmaps {list(heatmaps.shape)} must have '
                             f'num_joints = {self.num_joints} channels and match '
                             f'heatmap_gt{suffix} {list(target.shape)}')


def _require(inputs: Mapping[str, paddle.Tensor], key: str) -> paddle.Tensor:
    if key not in inputs:
        raise KeyError(f"HrHRNetLoss needs inputs['{key}'], got keys {sorted(inputs)}")
    return inputs[key]
