"""Bottom-up HigherHRNet: a backbone, then :class:`~ppkpt.modeling.heads.HrHRNetHead`.

Three entry points keep training, evaluation and export apart:

* :meth:`HigherHRNet.predict_outputs` — tensors only, no flip: what export traces.
* ``forward`` in train mode — the head's loss dict.
* ``forward`` in eval mode — flip test and multi-scale test merged by the run's
  :class:`~ppkpt.codecs.AssociativeEmbeddingCodec` (``merge_flip``, ``merge_scales``), grouped
  into people by the codec and mapped back to image pixels with the batch's ``affine``.

Dimension names: N images, K joints, H x W the input image, P people of one image.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.static import InputSpec

from ppkpt.codecs.associative_embedding import AssociativeEmbeddingCodec
from ppkpt.core.workspace import register, serializable
from ppkpt.geometry import flip_permutation
from ppkpt.modeling.architectures.inputs import as_float64, check_built, require_input

__all__ = ['HigherHRNet', 'joint_permutation']

INPUT_MULTIPLE = 32
"""Sides of a rescaled test input are rounded to this multiple: HRNet's coarsest branch is at
1/32 and its fusion needs every branch to halve exactly."""

Maps = Dict[str, np.ndarray]
"""``heatmaps`` (N, K, h, w) and ``tags`` (N, K, h, w, T) float32 arrays."""


@register
@serializable
class HigherHRNet(nn.Layer):
    """HigherHRNet (Cheng et al., 2020) with PaddleDetection's parameter names.

    The head is stored as ``hrhrnet_head``, so state_dict keys are ``backbone.*`` and
    ``hrhrnet_head.*`` like PaddleDetection's ``HigherHRNet`` and its ``.pdparams`` load strictly.

    Args:
        backbone: a built backbone whose first output is the 1/4-resolution feature.
        hrhrnet_head: a built :class:`~ppkpt.modeling.heads.HrHRNetHead`.
        codec: the run's associative-embedding codec (the top-level ``codec:`` key; it cannot
            be set here). It merges the flip and scale passes and groups the people. A model
            built without one (to compare raw maps) returns the merged maps at evaluation
            and cannot flip.
        eval_flip: at evaluation, also run the mirrored image; the codec averages its
            mirrored-back heatmaps with the plain ones and keeps both tag maps.
        flip_perm: how a horizontal flip renames the joints: PaddleDetection's full permutation
            (K ints, ``[0, 2, 1, 4, 3, ...]``) or ppkpt's shared [left, right] pairs (``[]``
            for no symmetric joints). Required when ``eval_flip`` is on.
        max_num_people: PaddleDetection's key; the codec's ``max_num_people`` decides, and a
            value given here must equal it.
        test_scales: input scale factors of the multi-scale test; each rescales the whole
            input (sides rounded to multiples of :data:`INPUT_MULTIPLE`), and the codec merges
            the passes (``merge_scales``: mean heatmaps, all tags). ``[1.0]``: single scale.
    """

    __category__ = 'architecture'
    __inject__ = ['backbone', 'hrhrnet_head']
    __shared__ = ['flip_perm', 'codec']
    __shared_only__ = ['codec']

    def __init__(self, backbone: Union[nn.Layer, str] = 'HRNet',
                 hrhrnet_head: Union[nn.Layer, str] = 'HrHRNetHead',
                 codec: Optional[AssociativeEmbeddingCodec] = None, eval_flip: bool = True,
                 flip_perm: Optional[List[Union[int, List[int]]]] = None,
                 max_num_people: Optional[int] = None,
                 test_scales: List[float] = [1.0]) -> None:
        super().__init__()
        check_built('HigherHRNet', 'backbone', backbone)
        check_built('HigherHRNet', 'hrhrnet_head', hrhrnet_head)
        _check_channels(hrhrnet_head, backbone)
        if eval_flip and flip_perm is None:
            raise ValueError('HigherHRNet.eval_flip is on but flip_perm is not set; give the '
                             'joint permutation or [left, right] pairs ([] for no symmetry)')
        if not test_scales or min(test_scales) <= 0:
            raise ValueError(f'HigherHRNet.test_scales must be positive factors, got '
                             f'{list(test_scales)}')
        self.backbone = backbone
        self.hrhrnet_head = hrhrnet_head
        self.codec = codec
        self.eval_flip = eval_flip
        self.flip_index = joint_permutation(flip_perm or [], hrhrnet_head.num_joints)
        self.max_num_people = _max_num_people(codec, max_num_people)
        self.test_scales = [float(s) for s in test_scales]

    @property
    def flip_pairs(self) -> List[List[int]]:
        """The [left, right] joint pairs of :attr:`flip_index`, as the codec takes them."""
        return [[k, int(partner)] for k, partner in enumerate(self.flip_index) if k < partner]

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
        """Train: the head loss's dict (with ``'loss'``). Eval: the people of every image.

        Args:
            inputs: a batch with ``image`` [N, 3, H, W]; training also needs the targets the
                head's loss reads, evaluation the ``affine`` [N, 2, 3] input -> image matrices
                (``EvalAffine``).

        Returns:
            Eval with a codec: :meth:`decode`'s ``{'keypoint': [N x (P, K, 3)], 'score':
            [N x (P,)]}``; without one, :meth:`test_maps`.
        """
        image = require_input(inputs, 'image', 'HigherHRNet')
        if self.training:
            outputs = self.hrhrnet_head(self.backbone(image))
            return self.hrhrnet_head.loss(outputs, inputs)
        maps = self.test_maps(image)
        if self.codec is None:
            return maps
        return self.decode(maps, require_input(inputs, 'affine', 'HigherHRNet'))

    def test_maps(self, image: paddle.Tensor) -> Maps:
        """The evaluation maps at 1/2 input resolution: every test scale (flip-merged when
        ``eval_flip`` is on), merged across scales by the codec.

        Returns:
            ``{'heatmaps': (N, K, H/2, W/2), 'tags': (N, K, H/2, W/2, T)}`` float32 arrays,
            T = (2 with flip else 1) x the number of test scales.
        """
        size = (image.shape[3] // 2, image.shape[2] // 2)
        passes = [self._scale_maps(_rescale(image, scale)) for scale in self.test_scales]
        if len(passes) == 1:
            return passes[0]
        merged = [self.codec.merge_scales([_image_maps(p, i) for p in passes], size)
                  for i in range(image.shape[0])]
        return _stack(merged)

    def _scale_maps(self, image: paddle.Tensor) -> Maps:
        """One test scale's maps: the plain pass, merged with the mirrored pass by the codec
        when ``eval_flip`` is on (both passes in one batch)."""
        if not self.eval_flip:
            heatmaps, tags = self.predict_outputs(image)
            return {'heatmaps': heatmaps.numpy(), 'tags': tags.numpy()[..., None]}
        if self.codec is None:
            raise ValueError('HigherHRNet.eval_flip needs the codec (top-level `codec:`) to '
                             'merge the mirrored pass')
        both = self.predict_outputs(paddle.concat([image, paddle.flip(image, axis=[3])]))
        heatmaps, mirrored_heatmaps = np.split(both[0].numpy(), 2, axis=0)
        tags, mirrored_tags = np.split(both[1].numpy(), 2, axis=0)
        merged = [self.codec.merge_flip(
            {'heatmaps': heatmaps[i:i + 1], 'tags': tags[i:i + 1]},
            {'heatmaps': mirrored_heatmaps[i:i + 1], 'tags': mirrored_tags[i:i + 1]},
            self.flip_pairs) for i in range(len(heatmaps))]
        return _stack(merged)

    def decode(self, maps: Maps, affine: Any) -> Dict[str, List[np.ndarray]]:
        """Group every image's maps into people and map them to image pixels.

        Args:
            maps: :meth:`test_maps` output for N images.
            affine: [N, 2, 3] matrices from model input pixels to image pixels (Tensor or
                array).

        Returns:
            ``keypoint``: N arrays (P, K, 3) float32 (x, y, joint score) in image pixels;
            ``score``: N arrays (P,) float32 person scores, highest first.
        """
        matrices = as_float64(affine).reshape(-1, 2, 3)
        if len(matrices) != len(maps['heatmaps']):
            raise ValueError(f'HigherHRNet: {len(matrices)} affine matrices for '
                             f'{len(maps["heatmaps"])} images')
        people = [self.codec.decode_to_image(_image_maps(maps, i), input_to_image=matrix)
                  for i, matrix in enumerate(matrices)]
        return {'keypoint': [kpts for kpts, _ in people],
                'score': [scores for _, scores in people]}


def joint_permutation(flip_perm: Sequence[Union[int, Sequence[int]]],
                      num_joints: int) -> np.ndarray:
    """(K,) int64 joint permutation of a horizontal flip, from a full permutation (K ints) or
    [left, right] pairs.

    Raises:
        ValueError: a flat list that is not a permutation of 0..K-1 or does not swap joints in
            pairs (a flip undoes itself), or malformed pairs.
    """
    if not all(isinstance(v, (int, np.integer)) for v in flip_perm) or not flip_perm:
        return flip_permutation(flip_perm, num_joints)
    perm = np.asarray(flip_perm, dtype=np.int64)
    if sorted(perm.tolist()) != list(range(num_joints)):
        raise ValueError(f'HigherHRNet.flip_perm {list(flip_perm)} is not a permutation of the '
                         f'{num_joints} joints')
    if np.any(perm[perm] != np.arange(num_joints)):
        raise ValueError(f'HigherHRNet.flip_perm {list(flip_perm)} does not swap joints in '
                         f'pairs, so it is not a horizontal flip')
    return perm


def _max_num_people(codec: Optional[AssociativeEmbeddingCodec],
                    max_num_people: Optional[int]) -> Optional[int]:
    """The codec's ``max_num_people``; a different value given to the model is an error."""
    if max_num_people is not None and max_num_people < 1:
        raise ValueError(f'HigherHRNet.max_num_people must be >= 1, got {max_num_people}')
    if codec is None:
        return max_num_people
    if max_num_people is not None and max_num_people != codec.max_num_people:
        raise ValueError(f'HigherHRNet.max_num_people is {max_num_people} but the codec keeps '
                         f'{codec.max_num_people}; set codec.max_num_people only')
    return codec.max_num_people


def _rescale(image: paddle.Tensor, scale: float) -> paddle.Tensor:
    """[N, 3, H, W] resized bilinearly by ``scale`` (sides rounded to multiples of
    :data:`INPUT_MULTIPLE`, at least one); unchanged for 1."""
    if scale == 1.0:
        return image
    size = [max(INPUT_MULTIPLE, int(round(side * scale / INPUT_MULTIPLE)) * INPUT_MULTIPLE)
            for side in image.shape[2:]]
    return F.interpolate(image, size=size, mode='bilinear', align_corners=False)


def _image_maps(maps: Maps, index: int) -> Maps:
    """The batch-of-one maps of image ``index``."""
    return {key: value[index:index + 1] for key, value in maps.items()}


def _stack(per_image: Sequence[Maps]) -> Maps:
    """Batch-of-one maps of N images -> maps of the batch."""
    return {key: np.concatenate([maps[key] for maps in per_image]) for key in per_image[0]}


def _check_channels(head: nn.Layer, backbone: nn.Layer) -> None:
    out_shape = getattr(backbone, 'out_shape', None)
    if out_shape and out_shape[0].channels != head.width:
        raise ValueError(f'HrHRNetHead.width is {head.width} but the backbone\'s first output '
                         f'has {out_shape[0].channels} channels')
