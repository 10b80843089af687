"""Bottom-up HigherHRNet: a backbone, then :class:`~ppkpt.modeling.heads.HrHRNetHead`.

Three entry points keep training, evaluation and export apart:

* :meth:`HigherHRNet.predict_outputs` — tensors only, no flip: what export traces.
* ``forward`` in train mode — the head's loss dict.
* ``forward`` in eval mode — the flip-test maps as arrays, for the bottom-up codec to group;
  nothing is decoded here.

Dimension names: N images, K joints, H x W the input image.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from ppkpt.core.workspace import register, serializable
from ppkpt.geometry import flip_permutation

__all__ = ['HigherHRNet', 'joint_permutation']


@register
@serializable
class HigherHRNet(nn.Layer):
    """HigherHRNet (Cheng et al., 2020) with PaddleDetection's parameter names.

    The head is stored as ``hrhrnet_head``, so state_dict keys are ``backbone.*`` and
    ``hrhrnet_head.*`` like PaddleDetection's ``HigherHRNet`` and its ``.pdparams`` load strictly.

    Args:
        backbone: a built backbone whose first output is the 1/4-resolution feature.
        hrhrnet_head: a built :class:`~ppkpt.modeling.heads.HrHRNetHead`.
        eval_flip: at evaluation, also run the mirrored image, average its mirrored-back
            heatmaps with the plain ones and keep both tag maps.
        flip_perm: how a horizontal flip renames the joints: PaddleDetection's full permutation
            (K ints, ``[0, 2, 1, 4, 3, ...]``) or ppkpt's shared [left, right] pairs (``[]``
            for no symmetric joints). Required when ``eval_flip`` is on.
        max_num_people: the most people the bottom-up decoding keeps per image (PaddleDetection's
            top-k); kept for the codec, the maps do not depend on it.
    """

    __category__ = 'architecture'
    __inject__ = ['backbone', 'hrhrnet_head']
    __shared__ = ['flip_perm']

    def __init__(self, backbone: Union[nn.Layer, str] = 'HRNet',
                 hrhrnet_head: Union[nn.Layer, str] = 'HrHRNetHead', eval_flip: bool = True,
                 flip_perm: Optional[List[Union[int, List[int]]]] = None,
                 max_num_people: int = 30) -> None:
        super().__init__()
        _check_built('backbone', backbone)
        _check_built('hrhrnet_head', hrhrnet_head)
        _check_channels(hrhrnet_head, backbone)
        if eval_flip and flip_perm is None:
            raise ValueError('HigherHRNet.eval_flip is on but flip_perm is not set; give the '
                             'joint permutation or [left, right] pairs ([] for no symmetry)')
        if max_num_people < 1:
            raise ValueError(f'HigherHRNet.max_num_people must be >= 1, got {max_num_people}')
        self.backbone = backbone
        self.hrhrnet_head = hrhrnet_head
        self.eval_flip = eval_flip
        self.flip_index = joint_permutation(flip_perm or [], hrhrnet_head.num_joints)
        self.max_num_people = max_num_people

    def predict_outputs(self, image: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """The head's inference maps, without flip.

        Args:
            image: [N, 3, H, W] normalised float32 image (H, W multiples of 32).

        Returns:
            ``heatmaps`` and ``tags``, both [N, K, H/2, W/2].
        """
        return self.hrhrnet_head.predict(self.backbone(image))

    def export_input_spec(self, image_shape: Optional[List[int]] = None) -> List[InputSpec]:
        """The input of the exported graph: ``image`` float32 [None, 3, H, W].

        Args:
            image_shape: [3, H, W] (-1 for a dynamic side); None gives [None, 3, -1, -1].
        """
        if image_shape is None:
            image_shape = [3, -1, -1]
        if len(image_shape) != 3 or image_shape[0] != 3:
            raise ValueError(f'HigherHRNet.export_input_spec needs image_shape [3, H, W], '
                             f'got {image_shape}')
        return [InputSpec([None] + [int(v) for v in image_shape], 'float32', name='image')]

    def export_forward(self, image: paddle.Tensor) -> Tuple[paddle.Tensor, paddle.Tensor]:
        """What export traces: [N, 3, H, W] image -> (heatmaps, tags), both [N, K, H/2, W/2]."""
        return self.predict_outputs(image)

    def forward(self, inputs: Mapping[str, Any]) -> Dict[str, Any]:
        """Train: the head loss's dict (with ``'loss'``). Eval: :meth:`test_maps` of the image.

        Args:
            inputs: a batch with ``image`` [N, 3, H, W]; training also needs the targets the
                head's loss reads.
        """
        if 'image' not in inputs:
            raise KeyError(f"HigherHRNet needs inputs['image'], got keys {sorted(inputs)}")
        image = inputs['image']
        if self.training:
            outputs = self.hrhrnet_head(self.backbone(image))
            return self.hrhrnet_head.loss(outputs, inputs)
        return self.test_maps(image)

    def test_maps(self, image: paddle.Tensor) -> Dict[str, np.ndarray]:
        """The evaluation maps at 1/2 resolution, merged with the mirrored pass when
        ``eval_flip`` is on (both passes run as one batch).

        Returns:
            ``{'heatmaps': (N, K, H/2, W/2), 'tags': (N, K, H/2, W/2, T)}`` float32 arrays.
            With flip the heatmaps are the mean of the plain and the mirrored-back maps and
            T = 2 (plain tags, mirrored-back tags); without flip T = 1.
        """
        if not self.eval_flip:
            heatmaps, tags = self.predict_outputs(image)
            return {'heatmaps': heatmaps.numpy(), 'tags': tags.numpy()[..., None]}
        both = self.predict_outputs(paddle.concat([image, paddle.flip(image, axis=[3])]))
        heatmaps, mirrored_heatmaps = np.split(both[0].numpy(), 2, axis=0)
        tags, mirrored_tags = np.split(both[1].numpy(), 2, axis=0)
        return {'heatmaps': (heatmaps + self.mirror_back(mirrored_heatmaps)) / 2,
                'tags': np.stack([tags, self.mirror_back(mirrored_tags)], axis=-1)}

    def mirror_back(self, maps: np.ndarray) -> np.ndarray:
        """(N, K, h, w) maps of mirrored images -> maps of the originals: joints renamed by
        ``flip_index`` (``out[:, k] = maps[:, flip_index[k]]``), then W reversed."""
        return np.ascontiguousarray(maps[:, self.flip_index, :, ::-1])


def joint_permutation(flip_perm: Sequence[Union[int, Sequence[int]]],
                      num_joints: int) -> np.ndarray:
    """(K,) int64 joint permutation of a horizontal flip, from a full permutation (K ints) or
    [left, right] pairs.

    Raises:
        ValueError: a flat list that is not a permutation of 0..K-1, or malformed pairs.
    """
    if not all(isinstance(v, (int, np.integer)) for v in flip_perm) or not flip_perm:
        return flip_permutation(flip_perm, num_joints)
    perm = np.asarray(flip_perm, dtype=np.int64)
    if sorted(perm.tolist()) != list(range(num_joints)):
        raise ValueError(f'HigherHRNet.flip_perm {list(flip_perm)} is not a permutation of the '
                         f'{num_joints} joints')
    return perm


def _check_built(name: str, value: Union[nn.Layer, str]) -> None:
    if not isinstance(value, nn.Layer):
        raise TypeError(f'HigherHRNet.{name} must be a built layer, got {value!r}; build the '
                        f'model with create() from a config, or pass an instance')


def _check_channels(head: nn.Layer, backbone: nn.Layer) -> None:
    out_shape = getattr(backbone, 'out_shape', None)
    if out_shape and out_shape[0].channels != head.width:
        raise ValueError(f'HrHRNetHead.width is {head.width} but the backbone\'s first output '
                         f'has {out_shape[0].channels} channels')
