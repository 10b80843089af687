"""CenterNet: an anchor-free detector that finds objects as heatmap peaks at their centres.

Used to find the objects (e.g. persons) that a top-down keypoint model then crops. The eval and
export outputs follow the detector format of PaddleDetection exports: ``bbox`` [M, 6] rows
(class_id, score, x1, y1, x2, y2) in original image pixels and ``bbox_num`` [N] int32.
"""
from typing import Any, Dict, List, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.heads.centernet_head import CenterNetNeck, decode_centernet

__all__ = ['CenterNet']


def _as_tensor(value: Any, dtype: str) -> paddle.Tensor:
    if isinstance(value, paddle.Tensor):
        return paddle.cast(value, dtype)
    return paddle.to_tensor(np.asarray(value), dtype=dtype)


def _filter_by_score(bbox: np.ndarray, bbox_num: np.ndarray, threshold: float
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Drop rows of ``bbox`` [M, 6] whose score is below ``threshold``, per image."""
    keep = bbox[:, 1] >= threshold
    image_of_row = np.repeat(np.arange(len(bbox_num)), bbox_num)
    counts = np.bincount(image_of_row[keep], minlength=len(bbox_num)).astype(np.int32)
    return bbox[keep].astype(np.float32), counts


@register
@serializable
class CenterNet(nn.Layer):
    """Backbone -> stride-4 neck -> :class:`CenterNetHead`, trained with :class:`CenterNetLoss`.

    Args:
        backbone: a backbone with ``out_shape`` (channels and strides, finest first) whose
            outputs form a pyramid with doubling strides.
        head: a :class:`ppkpt.modeling.heads.CenterNetHead`; its ``in_channels`` sets the
            neck width.
        loss: a :class:`ppkpt.modeling.losses.CenterNetLoss`.
        num_classes: number of object classes; must match the head.
        max_per_img: boxes kept per image by top-k decoding.
        score_threshold: eval-only filter applied after decoding (outside the exported graph;
            deployment filters by its own threshold).
    """

    __category__ = 'architecture'
    __inject__ = ['backbone', 'head', 'loss']
    __shared__ = ['num_classes']

    def __init__(self, backbone: nn.Layer, head: nn.Layer, loss: nn.Layer,
                 num_classes: int = 1, max_per_img: int = 100,
                 score_threshold: float = 0.01) -> None:
        super().__init__()
        if head.num_classes != num_classes:
            raise ValueError(f'CenterNet.num_classes={num_classes} but the head predicts '
                             f'{head.num_classes} classes')
        if max_per_img < 1:
            raise ValueError(f'CenterNet.max_per_img must be >= 1, got {max_per_img}')
        self.backbone = backbone
        self.neck = CenterNetNeck(backbone.out_shape, head.in_channels)
        self.head = head
        self.loss = loss
        self.num_classes = num_classes
        self.max_per_img = max_per_img
        self.score_threshold = score_threshold

    @property
    def stride(self) -> int:
        """Input pixels per heatmap pixel."""
        return self.neck.out_stride

    def predict_maps(self, image: paddle.Tensor) -> Dict[str, paddle.Tensor]:
        """Raw head outputs for ``image`` [N, 3, H, W] (see :meth:`CenterNetHead.forward`)."""
        return self.head(self.neck(self.backbone(image)))

    def export_forward(self, image: paddle.Tensor, scale_factor: paddle.Tensor
                       ) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """Detect and decode; pure paddle ops, traceable with ``to_static(full_graph=True)``.

        Args:
            image: [N, 3, H, W] float32 normalised network input.
            scale_factor: [N, 2] float32 (h_ratio, w_ratio) of input size / original size.

        Returns:
            ``bbox`` [N * k, 6] float32 (class_id, score, x1, y1, x2, y2) in original pixels and
            ``bbox_num`` [N] int32 (k boxes per image, no score filter).
        """
        maps = self.predict_maps(image)
        return decode_centernet(maps['heatmap'], maps['size'], maps['offset'], scale_factor,
                                self.stride, self.max_per_img)

    @staticmethod
    def export_input_spec(image_shape: List[int]) -> List[InputSpec]:
        """Input specs for export.

        Args:
            image_shape: [3, H, W] or [H, W]; -1 marks a dynamic side.

        Returns:
            ``image`` [None, 3, H, W] and ``scale_factor`` [None, 2], both float32.
        """
        shape = list(image_shape)
        if len(shape) == 3 and shape[0] == 3:
            shape = shape[1:]
        if len(shape) != 2:
            raise ValueError(f'image_shape must be [3, H, W] or [H, W], got {image_shape}')
        return [InputSpec([None, 3] + shape, 'float32', name='image'),
                InputSpec([None, 2], 'float32', name='scale_factor')]

    def forward(self, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """Training: the loss dict. Eval: decoded, score-filtered boxes as numpy arrays.

        Args:
            inputs: batch with ``image`` [N, 3, H, W]; training also needs the
                :class:`CenterNetTarget` keys; eval uses ``scale_factor`` [N, 2] when present
                (default: ones, i.e. boxes in input pixels).

        Returns:
            Training: ``loss``, ``heatmap_loss``, ``size_loss``, ``offset_loss``.
            Eval: ``bbox`` (M, 6) float32 ndarray and ``bbox_num`` (N,) int32 ndarray.
        """
        if 'image' not in inputs:
            raise KeyError('CenterNet.forward: the batch has no `image`')
        image = _as_tensor(inputs['image'], 'float32')
        if self.training:
            return self.loss(self.predict_maps(image), inputs)
        if 'scale_factor' in inputs:
            scale_factor = _as_tensor(inputs['scale_factor'], 'float32')
        else:
            scale_factor = paddle.ones([image.shape[0], 2], dtype='float32')
        bbox, bbox_num = self.export_forward(image, scale_factor)
        bbox, bbox_num = _filter_by_score(bbox.numpy(), bbox_num.numpy(), self.score_threshold)
        return {'bbox': bbox, 'bbox_num': bbox_num}
