"""Top-down keypoint model: a backbone's stride-4 features, then a 1x1 conv to K heatmaps.

Three entry points keep training, evaluation and export apart:

* :meth:`TopDownHRNet.predict_heatmaps` — tensors only, what export traces.
* ``forward`` in train mode — the loss dict.
* ``forward`` in eval mode — flip test, decoding and mapping back to image pixels.
"""
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import paddle
import paddle.nn as nn
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal
from paddle.static import InputSpec

from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.core.workspace import register, serializable
from ppkpt.geometry import flip_permutation

__all__ = ['TopDownHRNet']


@register
@serializable
class TopDownHRNet(nn.Layer):
    """HRNet-style top-down pose estimator.

    Args:
        width: channels of the backbone's first output (the stride-4 branch).
        num_joints: number of keypoints K.
        backbone: a built backbone layer whose first output is [N, width, H/4, W/4]
            (``create()`` builds it from the name given in the config).
        loss: a built loss layer called as ``loss(heatmaps, inputs)`` and returning a dict with
            ``'loss'``.
        flip_perm: [left, right] joint pairs swapped by a horizontal flip; ``[]`` for a keypoint
            set without symmetry. Required when ``flip`` is True.
        flip: average the heatmaps of the image and of its mirror image at evaluation.
        shift_heatmap: shift the flipped heatmaps one pixel right before averaging (corrects
            the half-pixel misalignment of the flipped prediction).
        use_dark: decode with DARK refinement instead of the quarter-pixel offset.
        use_udp: map the decoded peaks back with the UDP inverse crop; set it to the
            ``use_udp`` of the eval ``TopDownEvalAffine``.
        pixel_std: pixels per unit of the batch's ``scale`` (shared with the datasets).
    """

    __category__ = 'architecture'
    __inject__ = ['backbone', 'loss']
    __shared__ = ['num_joints', 'flip_perm', 'pixel_std']

    def __init__(self, width: int, num_joints: int,
                 backbone: Union[nn.Layer, str] = 'HRNet',
                 loss: Union[nn.Layer, str] = 'KeyPointMSELoss',
                 flip_perm: Optional[List[List[int]]] = None, flip: bool = True,
                 shift_heatmap: bool = True, use_dark: bool = True, use_udp: bool = False,
                 pixel_std: float = 200.0) -> None:
        super().__init__()
        _check_built('backbone', backbone)
        _check_built('loss', loss)
        _check_width(width, backbone)
        if num_joints < 1:
            raise ValueError(f'TopDownHRNet.num_joints must be >= 1, got {num_joints}')
        if flip and flip_perm is None:
            raise ValueError('TopDownHRNet.flip is true but flip_perm is not set; give the '
                             '[left, right] joint pairs (or [] for no symmetric joints)')
        self.backbone = backbone
        self.loss = loss
        self.final_conv = nn.Conv2D(width, num_joints, 1,
                                    weight_attr=ParamAttr(initializer=Normal(0.0, 0.001)),
                                    bias_attr=ParamAttr(initializer=Constant(0.0)))
        self.num_joints = num_joints
        self.flip = flip
        self.shift_heatmap = shift_heatmap
        self.use_dark = use_dark
        self.use_udp = use_udp
        self.pixel_std = pixel_std
        self.flip_index = (flip_permutation(flip_perm, num_joints) if flip_perm is not None
                           else np.arange(num_joints))

    def predict_heatmaps(self, image: paddle.Tensor) -> paddle.Tensor:
        """Raw heatmaps, without flip test or decoding.

        Args:
            image: [N, 3, H, W] normalised float32 image.

        Returns:
            [N, K, H/4, W/4] heatmaps.
        """
        return self.final_conv(self.backbone(image)[0])

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
        image = _require(inputs, 'image')
        if self.training:
            return self.loss(self.predict_heatmaps(image), inputs)
        return self.predict(image, _require(inputs, 'center'), _require(inputs, 'scale'))

    def predict(self, image: paddle.Tensor, center: Any, scale: Any) -> Dict[str, np.ndarray]:
        """Flip test (if enabled), decode and map back to image pixels.

        Args:
            image: [N, 3, H, W].
            center: [N, 2] box centres in image pixels (Tensor or array).
            scale: [N, 2] box sizes in units of ``pixel_std`` px (Tensor or array).

        Returns:
            ``{'keypoint': (N, K, 3), 'score': (N,)}`` float32 arrays.
        """
        heatmaps = self.test_heatmaps(image).numpy()
        codec = HeatmapCodec(input_size=[image.shape[3], image.shape[2]],
                             heatmap_size=[heatmaps.shape[3], heatmaps.shape[2]],
                             target_type='udp' if self.use_udp else 'gaussian',
                             use_dark=self.use_dark)
        try:
            keypoints = codec.decode_to_image(heatmaps, _as_array(center),
                                              _as_array(scale) * self.pixel_std)
        except ValueError as err:
            raise ValueError(f"TopDownHRNet: inputs['center'] and inputs['scale']: {err}") from err
        return {'keypoint': keypoints, 'score': keypoints[:, :, 2].mean(axis=1)}

    def test_heatmaps(self, image: paddle.Tensor) -> paddle.Tensor:
        """Heatmaps [N, K, H/4, W/4] used at evaluation, averaged with the flipped pass if
        ``flip`` is set (both passes run as one batch)."""
        if not self.flip:
            return self.predict_heatmaps(image)
        both = self.predict_heatmaps(paddle.concat([image, paddle.flip(image, axis=[3])]))
        plain, mirrored = paddle.split(both, 2, axis=0)
        return (plain + self.unflip(mirrored)) * 0.5

    def unflip(self, heatmaps: paddle.Tensor) -> paddle.Tensor:
        """Map heatmaps [N, K, h, w] predicted on a mirrored image back to the original one.

        Reverses W, swaps the flip pairs and, with ``shift_heatmap``, moves everything one
        pixel right (column 0 keeps its value).
        """
        index = paddle.to_tensor(self.flip_index, dtype='int64')
        out = paddle.gather(paddle.flip(heatmaps, axis=[3]), index, axis=1)
        if self.shift_heatmap:
            out = paddle.concat([out[:, :, :, :1], out[:, :, :, :-1]], axis=3)
        return out


def _check_built(name: str, value: Union[nn.Layer, str]) -> None:
    if not isinstance(value, nn.Layer):
        raise TypeError(f'TopDownHRNet.{name} must be a built layer, got {value!r}; build the '
                        f'model with create() from a config, or pass an instance')


def _check_width(width: int, backbone: nn.Layer) -> None:
    out_shape = getattr(backbone, 'out_shape', None)
    if out_shape and out_shape[0].channels != width:
        raise ValueError(f'TopDownHRNet.width is {width} but the backbone\'s first output has '
                         f'{out_shape[0].channels} channels')


def _require(inputs: Mapping[str, Any], key: str) -> Any:
    if key not in inputs:
        raise KeyError(f"TopDownHRNet needs inputs['{key}'], got keys {sorted(inputs)}")
    return inputs[key]


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, paddle.Tensor):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)
