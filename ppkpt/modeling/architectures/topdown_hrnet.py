"""Top-down keypoint model: a backbone, then a head that turns stride-4 features into heatmaps.

Three entry points keep training, evaluation and export apart:

* :meth:`TopDownHRNet.predict_heatmaps` — tensors only, what export traces.
* ``forward`` in train mode — the head's loss dict.
* ``forward`` in eval mode — flip test, decoding and mapping back to image pixels (the head
  and its codec do the work).
"""
from typing import Any, Dict, List, Mapping, Union

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from ppkpt.core.workspace import register, serializable
from ppkpt.modeling.architectures.inputs import as_float64, check_built, require_input

__all__ = ['TopDownHRNet']


@register
@serializable
class TopDownHRNet(nn.Layer):
    """Top-down pose estimator: ``backbone`` features, then ``head``.

    The head is stored under its ``state_name`` (``final_conv`` for
    :class:`~ppkpt.modeling.heads.TopDownHeatmapHead`), so saved weights keep PaddleDetection's
    parameter names; :attr:`head` returns it.

    Args:
        backbone: a built backbone layer whose first output feeds the head.
        head: a built head with ``forward(features)``, ``compute_loss(outputs, inputs)``,
            ``merge_flip(plain, mirrored)``, ``decode(outputs, centers, scales_px)`` and
            ``flip_test``.
        pixel_std: pixels per unit of the batch's ``scale`` (shared with the datasets).
    """

    __category__ = 'architecture'
    __inject__ = ['backbone', 'head']
    __shared__ = ['pixel_std']
    __moved__ = {'width': 'TopDownHeatmapHead.in_channels', 'loss': 'TopDownHeatmapHead.loss',
                 'flip': 'TopDownHeatmapHead.flip_test', 'num_joints': 'num_joints',
                 'flip_perm': 'flip_perm', 'use_dark': 'codec.use_dark',
                 'shift_heatmap': 'codec.flip_alignment', 'use_udp': 'codec.target_type'}

    def __init__(self, backbone: Union[nn.Layer, str] = 'HRNet',
                 head: Union[nn.Layer, str] = 'TopDownHeatmapHead',
                 pixel_std: float = 200.0) -> None:
        super().__init__()
        check_built('TopDownHRNet', 'backbone', backbone)
        check_built('TopDownHRNet', 'head', head)
        _check_channels(head, backbone)
        self.backbone = backbone
        self._head_name = getattr(head, 'state_name', 'head')
        setattr(self, self._head_name, head)
        self.pixel_std = pixel_std

    @property
    def head(self) -> nn.Layer:
        """The head layer (stored under its ``state_name``)."""
        return getattr(self, self._head_name)

    def predict_heatmaps(self, image: paddle.Tensor) -> paddle.Tensor:
        """Raw heatmaps, without flip test or decoding.

        Args:
            image: [N, 3, H, W] normalised float32 image.

        Returns:
            [N, K, H/4, W/4] heatmaps.
        """
        return self.head(self.backbone(image))

    def export_input_spec(self, image_shape: List[int]) -> List[InputSpec]:
        """The input of the exported graph: ``image`` [None, 3, H, W] float32.

        Args:
            image_shape: [3, H, W].
        """
        if len(image_shape) != 3 or image_shape[0] != 3:
            raise ValueError(f'TopDownHRNet.export_input_spec needs image_shape [3, H, W], '
                             f'got {image_shape}')
        return [InputSpec([None] + [int(v) for v in image_shape], 'float32', name='image')]

    def export_forward(self, image: paddle.Tensor) -> paddle.Tensor:
        """What export traces: [N, 3, H, W] image -> [N, K, H/4, W/4] heatmaps."""
        return self.predict_heatmaps(image)

    def forward(self, inputs: Mapping[str, Any]) -> Dict[str, Any]:
        """Train: ``{'loss': Tensor}``. Eval: decoded keypoints in original image pixels.

        Args:
            inputs: a batch with ``image`` [N, 3, H, W]; training also needs the loss inputs
                (``target``, ``target_weight``); evaluation needs ``center`` [N, 2] (pixels) and
                ``scale`` [N, 2] (units of 200 px).

        Returns:
            Training: the loss dict. Evaluation: ``{'keypoint': (N, K, 3) ndarray of
            (x, y, score), 'score': (N,) ndarray}`` where score is the mean joint confidence.
        """
        image = require_input(inputs, 'image', 'TopDownHRNet')
        if self.training:
            return self.head.compute_loss(self.predict_heatmaps(image), inputs)
        return self.predict(image, require_input(inputs, 'center', 'TopDownHRNet'),
                            require_input(inputs, 'scale', 'TopDownHRNet'))

    def predict(self, image: paddle.Tensor, center: Any, scale: Any) -> Dict[str, np.ndarray]:
        """Flip test (if enabled), decode and map back to image pixels.

        Args:
            image: [N, 3, H, W].
            center: [N, 2] box centres in image pixels (Tensor or array).
            scale: [N, 2] box sizes in units of ``pixel_std`` px (Tensor or array).

        Returns:
            ``{'keypoint': (N, K, 3), 'score': (N,)}`` float32 arrays.
        """
        heatmaps = self.test_heatmaps(image)
        try:
            return self.head.decode(heatmaps, as_float64(center),
                                    as_float64(scale) * self.pixel_std)
        except ValueError as err:
            raise ValueError(f'TopDownHRNet: {err}') from err

    def test_heatmaps(self, image: paddle.Tensor) -> np.ndarray:
        """(N, K, H/4, W/4) heatmaps used at evaluation, merged with the mirrored pass when the
        head's ``flip_test`` is on (both passes run as one batch)."""
        if not self.head.flip_test:
            return self.predict_heatmaps(image).numpy()
        both = self.predict_heatmaps(paddle.concat([image, paddle.flip(image, axis=[3])]))
        plain, mirrored = np.split(both.numpy(), 2, axis=0)
        return self.head.merge_flip(plain, mirrored)



def _check_channels(head: nn.Layer, backbone: nn.Layer) -> None:
    out_shape = getattr(backbone, 'out_shape', None)
    in_channels = getattr(head, 'in_channels', None)
    if out_shape and in_channels is not None and out_shape[0].channels != in_channels:
        raise ValueError(f'{type(head).__name__}.in_channels is {in_channels} but the '
                         f'backbone\'s first output has {out_shape[0].channels} channels')
