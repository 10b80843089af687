"""Bottom-up (all people of an image per sample) augmentation for HigherHRNet.

Every op is a callable ``op(record) -> record`` on a bottom-up record (from
:class:`~ppkpt.data.datasets.KeypointBottomUpCocoDataset`): ``image`` (H, W, 3) uint8 RGB,
``gt_joints`` (M, K, 3) float32 (x, y, v) for M people and K joints (v > 0 labelled), and
``mask`` (H, W) float32 (1 = the loss counts there, 0 = ignored). The training chain is
``RandomAffine -> KeyPointFlip -> GenerateTarget -> NormalizePermute``; evaluation uses
:class:`~ppkpt.data.transforms.preprocess.EvalAffine`.

Pixel convention (that of :class:`~ppkpt.codecs.AssociativeEmbeddingCodec`): pixel ``i`` covers
``[i, i + 1)``, so a joint at ``x`` lies in pixel ``floor(x)``, a mirror is ``x -> W - x`` and
a map at stride ``s`` has cell ``c`` over ``[c * s, (c + 1) * s)``. Images and masks are warped
with :func:`~ppkpt.data.transforms.preprocess.pixel_index_matrix` so that they move exactly
with the joints. Random ops draw from numpy's global generator (``np.random``), so seeding it
makes a run reproducible. Ops never modify arrays in place; they store new ones.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ppkpt.core.workspace import serializable
from ppkpt.data.transforms.preprocess import NormalizeImage, Permute, pixel_index_matrix
from ppkpt.geometry import affine_transform_points, flip_permutation

__all__ = ['RandomAffine', 'KeyPointFlip', 'NormalizePermute']

Record = Dict[str, Any]

_MASK_KEYS = ('mask', 'mask_1x', 'mask_2x')
_MASK_THRESHOLD = 0.5


def _size_wh(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """(w, h) of a size given as one int (a square) or [w, h]."""
    values = [size, size] if isinstance(size, (int, np.integer)) else list(size)
    if len(values) != 2 or any(int(v) != v or v <= 0 for v in values):
        raise ValueError(f'{name} must be a positive int or [w, h], got {size!r}')
    return int(values[0]), int(values[1])


def _heatmap_sizes(hmsize: Optional[Sequence[Union[int, Sequence[int]]]],
                   trainsize: Tuple[int, int]) -> List[Tuple[int, int]]:
    """The (w, h) of the ``mask_1x`` and ``mask_2x`` maps; None gives 1/4 and 1/2 of
    ``trainsize`` (the strides of the associative-embedding codec)."""
    if hmsize is None:
        if trainsize[0] % 4 or trainsize[1] % 4:
            raise ValueError(f'RandomAffine.trainsize {list(trainsize)} must be divisible by 4 '
                             f'when hmsize is not given')
        return [(trainsize[0] // 4, trainsize[1] // 4), (trainsize[0] // 2, trainsize[1] // 2)]
    if len(hmsize) != 2:
        raise ValueError(f'RandomAffine.hmsize must be two sizes [1x, 2x] (ints or [w, h]), '
                         f'got {hmsize!r}')
    return [_size_wh(size, 'RandomAffine.hmsize entry') for size in hmsize]


def _scale_rows(mat: np.ndarray, factor_x: float, factor_y: float) -> np.ndarray:
    """``mat`` (2, 3) followed by a zoom of (factor_x, factor_y)."""
    return mat * np.array([[factor_x], [factor_y]])


@serializable
class RandomAffine:
    """One random rotation, zoom and shift of the whole image, its joints and its mask.

    A square region of side ``roi = s * base`` (``s ~ U(scale)``, ``base`` the short or long
    image side by ``scale_type``) centred on the image centre moved by
    ``U(-max_shift, max_shift) * roi`` per axis is rotated by ``U(-max_degree, max_degree)``
    degrees (positive: counter-clockwise on screen) and zoomed so ``roi`` fills the short
    (``'short'``) or long (``'long'``) side of ``trainsize``. The draws are made in that order:
    degree, s, shift x, shift y.

    The mask is warped to each ``hmsize`` (bilinear, ``> 0.5``, as PaddleDetection); what lies
    outside the image gets 0, so the loss ignores the padding. A record without ``mask`` counts
    the whole image. Joints outside the input image get v = 0.

    Required keys: ``image`` (H, W, 3); optional ``gt_joints`` (M, K, 3) and ``mask`` (H, W).
    Modified keys: ``image`` becomes (h, w, 3) with [w, h] = ``trainsize``; ``gt_joints`` in
    input pixels.
    Added keys: ``mask_1x`` (h1, w1) and ``mask_2x`` (h2, w2) float32 0/1 at the ``hmsize``
    resolutions. Removed keys: ``mask``.

    Args:
        max_degree: largest rotation in degrees.
        scale: [min, max] of the region size factor s (> 1 shows more of the image).
        max_shift: largest centre shift as a fraction of the region size.
        trainsize: network input size, an int (square) or [w, h] (shared top-level key).
        hmsize: sizes [1x, 2x] of the two masks (ints for squares or [w, h]); default
            ``trainsize / 4`` and ``trainsize / 2``, the AE codec's ``heatmap_gt1x`` /
            ``heatmap_gt2x`` sizes.
        scale_type: ``'short'`` or ``'long'``, the side that sets ``base``.
        boldervalue: RGB fill of the area outside the image (PaddleDetection's spelling).
    """

    __category__ = 'transform'
    __shared__ = ['trainsize']

    def __init__(self, max_degree: float = 30, scale: List[float] = [0.75, 1.5],
                 max_shift: float = 0.2, trainsize: Union[int, List[int]] = [512, 512],
                 hmsize: Optional[List[Union[int, List[int]]]] = None,
                 scale_type: str = 'short', boldervalue: List[int] = [114, 114, 114]) -> None:
        if max_degree < 0 or max_shift < 0:
            raise ValueError(f'RandomAffine.max_degree and max_shift must be >= 0, got '
                             f'{max_degree} and {max_shift}')
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f'RandomAffine.scale must be [min, max] with 0 < min <= max, '
                             f'got {scale!r}')
        if scale_type not in ('short', 'long'):
            raise ValueError(f"RandomAffine.scale_type must be 'short' or 'long', "
                             f'got {scale_type!r}')
        if len(boldervalue) != 3:
            raise ValueError(f'RandomAffine.boldervalue must be 3 values, got {boldervalue!r}')
        self.max_degree = float(max_degree)
        self.scale = (float(scale[0]), float(scale[1]))
        self.max_shift = float(max_shift)
        self.trainsize = _size_wh(trainsize, 'RandomAffine.trainsize')
        self.hmsize = _heatmap_sizes(hmsize, self.trainsize)
        self.scale_type = scale_type
        self.boldervalue = tuple(float(v) for v in boldervalue)

    def random_matrix(self, width: int, height: int) -> np.ndarray:
        """A random (2, 3) float64 matrix from image to input pixels for a ``width`` x
        ``height`` image (draws from ``np.random``, see the class docstring)."""
        angle = np.radians(np.random.uniform(-self.max_degree, self.max_degree))
        pick = min if self.scale_type == 'short' else max
        roi = np.random.uniform(*self.scale) * pick(width, height)
        center = np.array([width, height]) / 2.0
        center = center + np.random.uniform(-self.max_shift, self.max_shift, 2) * roi
        zoom = pick(self.trainsize) / roi
        linear = zoom * np.array([[np.cos(angle), np.sin(angle)],
                                  [-np.sin(angle), np.cos(angle)]])
        offset = np.array(self.trainsize) / 2.0 - linear @ center
        return np.concatenate([linear, offset[:, None]], axis=1)

    def __call__(self, record: Record) -> Record:
        image = record['image']
        height, width = image.shape[:2]
        mat = self.random_matrix(width, height)
        mask = record.pop('mask', None)
        if mask is None:
            mask = np.ones((height, width), dtype=np.float32)
        record['image'] = cv2.warpAffine(image, pixel_index_matrix(mat), self.trainsize,
                                         flags=cv2.INTER_LINEAR, borderValue=self.boldervalue)
        for key, size in zip(('mask_1x', 'mask_2x'), self.hmsize):
            record[key] = self._warp_mask(mask, mat, size)
        if 'gt_joints' in record:
            record['gt_joints'] = self._warp_joints(record['gt_joints'], mat)
        return record

    def _warp_mask(self, mask: np.ndarray, mat: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        """(h, w) float32 0/1: the (H, W) mask warped by ``mat`` to a ``size`` = (w, h) map."""
        to_map = _scale_rows(mat, size[0] / self.trainsize[0], size[1] / self.trainsize[1])
        warped = cv2.warpAffine(np.asarray(mask, dtype=np.float32), pixel_index_matrix(to_map),
                                size, flags=cv2.INTER_LINEAR, borderValue=0.0)
        return (warped > _MASK_THRESHOLD).astype(np.float32)

    def _warp_joints(self, joints: np.ndarray, mat: np.ndarray) -> np.ndarray:
        """(M, K, 3) float32 joints in input pixels; those outside the input get v = 0."""
        out = np.array(joints, dtype=np.float32)
        out[..., :2] = affine_transform_points(out[..., :2], mat)
        inside = ((out[..., 0] >= 0) & (out[..., 0] < self.trainsize[0])
                  & (out[..., 1] >= 0) & (out[..., 1] < self.trainsize[1]))
        out[..., 2] = np.where(inside, out[..., 2], 0.0)
        return out


def _flip_index(flip_permutation_spec: Sequence[Union[int, Sequence[int]]],
                num_joints: int) -> np.ndarray:
    """(K,) int64 ``perm`` with ``flipped[k] = original[perm[k]]``, from [left, right] pairs
    or a full permutation of K ints (PaddleDetection's form)."""
    spec = list(flip_permutation_spec)
    if spec and all(isinstance(v, (int, np.integer)) for v in spec):
        if len(spec) != num_joints:
            raise ValueError(f'KeyPointFlip.flip_permutation has {len(spec)} entries but the '
                             f'record has {num_joints} joints')
        return np.asarray(spec, dtype=np.int64)
    return flip_permutation(spec, num_joints)


def _check_flip_spec(spec: Sequence[Union[int, Sequence[int]]]) -> List[Any]:
    """The spec as a list; ValueError unless it is all ints (a permutation) or all pairs."""
    values = list(spec)
    ints = [isinstance(v, (int, np.integer)) for v in values]
    if any(ints) and not all(ints):
        raise ValueError(f'KeyPointFlip.flip_permutation mixes ints and pairs: {spec!r}')
    if values and all(ints) and sorted(values) != list(range(len(values))):
        raise ValueError(f'KeyPointFlip.flip_permutation {values} is not a permutation of '
                         f'0..{len(values) - 1}')
    return values


@serializable
class KeyPointFlip:
    """Mirror the image, its masks and its joints left-right with probability ``flip_prob``.

    Joints move as ``x -> W - x`` (W the image width; the codec's convention, so the targets of
    a flipped sample are the mirrored targets) and are renamed by the flip permutation; v is
    kept. Every mask present (``mask``, ``mask_1x``, ``mask_2x``) has its columns reversed.

    Required keys: ``image`` (H, W, 3); optional ``gt_joints`` (M, K, 3) and the masks.
    Modified keys: ``image``, ``gt_joints``, the masks.

    Args:
        flip_permutation: how a flip renames the joints: [left, right] pairs (the shared
            top-level ``flip_perm``) or a full permutation of K ints (PaddleDetection's form);
            empty for no symmetric joints.
        flip_prob: probability of flipping.
    """

    __category__ = 'transform'
    __shared__ = {'flip_permutation': 'flip_perm'}
    __moved__ = {'hmsize': 'RandomAffine.hmsize (KeyPointFlip mirrors joints in input pixels)'}

    def __init__(self, flip_permutation: List[Union[int, List[int]]] = [],
                 flip_prob: float = 0.5) -> None:
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f'KeyPointFlip.flip_prob must be in [0, 1], got {flip_prob}')
        self.flip_permutation = _check_flip_spec(flip_permutation)
        self.flip_prob = float(flip_prob)

    def __call__(self, record: Record) -> Record:
        if np.random.rand() >= self.flip_prob:
            return record
        image = record['image']
        record['image'] = np.ascontiguousarray(image[:, ::-1])
        for key in _MASK_KEYS:
            if key in record:
                record[key] = np.ascontiguousarray(np.asarray(record[key])[:, ::-1])
        if 'gt_joints' in record:
            record['gt_joints'] = self._flip_joints(record['gt_joints'], image.shape[1])
        return record

    def _flip_joints(self, joints: np.ndarray, width: int) -> np.ndarray:
        """(M, K, 3) float32 joints mirrored in an image ``width`` wide and renamed."""
        joints = np.asarray(joints, dtype=np.float32)
        out = joints[:, _flip_index(self.flip_permutation, joints.shape[1])].copy()
        out[..., 0] = width - out[..., 0]
        return out


@serializable
class NormalizePermute:
    """Normalise the image per channel and change its layout from HWC to CHW.

    ``(image [/ 255] - mean) / std`` as :class:`~ppkpt.data.transforms.preprocess.NormalizeImage`,
    then :class:`~ppkpt.data.transforms.preprocess.Permute` (PaddleDetection's bottom-up op;
    its defaults are the 0-255 ImageNet values, which only fit ``is_scale: false``; these are
    the 0-1 values its configs pass).

    Required keys: ``image`` (H, W, 3).
    Modified keys: ``image`` becomes (3, H, W) float32.

    Args:
        mean: per-channel mean (3 values), in the 0-1 range when ``is_scale``.
        std: per-channel standard deviation (3 values, non-zero).
        is_scale: divide by 255 before subtracting the mean.
    """

    __category__ = 'transform'

    def __init__(self, mean: List[float] = [0.485, 0.456, 0.406],
                 std: List[float] = [0.229, 0.224, 0.225], is_scale: bool = True) -> None:
        self.normalize = NormalizeImage(mean, std, is_scale)
        self.permute = Permute()

    def __call__(self, record: Record) -> Record:
        return self.permute(self.normalize(record))
