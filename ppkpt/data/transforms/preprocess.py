"""The deterministic preprocessing shared by evaluation, inference and deploy.

Box -> crop (:class:`TopDownEvalAffine`), the bottom-up whole-image resize
(:class:`EvalAffine`), normalisation (:class:`NormalizeImage`), layout (:class:`Permute`) and the
detector resizes (:class:`DetResize`, PaddleDetection's :class:`Resize`, :class:`PadStride`). The
eval and test readers build these ops from the config; deploy builds the same classes from
``infer_cfg.yml`` with :func:`build_preprocess`, so an image and a box give the same network
input in both. This module imports numpy and cv2, never paddle.

Every op is a callable ``op(record) -> record`` on a record dict with ``image``; the detector
ops keep ``im_shape`` (2,) [h, w] of the current image and ``scale_factor`` (2,)
[h_ratio, w_ratio] of the current over the original size.
"""
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppkpt.codecs.base import KeypointCodec
from ppkpt.core.workspace import serializable
from ppkpt.data.transforms.common import Compose
from ppkpt.geometry import box_to_center_scale, clip_box_xywh, crop_matrix

__all__ = ['TopDownEvalAffine', 'EvalAffine', 'NormalizeImage', 'Permute', 'DetResize', 'Resize',
           'PadStride', 'PREPROCESS_OPS', 'build_preprocess', 'pixel_index_matrix']

Record = Dict[str, Any]


@serializable
class TopDownEvalAffine:
    """Crop a person box to the codec's input size, without augmentation.

    The box is, in order of preference: the record's ``center``/``scale`` (the eval datasets
    give them); its ``bbox`` (x, y, w, h), clipped to the image
    (:func:`ppkpt.geometry.clip_box_xywh`, as the datasets clip ground-truth boxes), padded
    to the input aspect and enlarged by ``padding`` (deploy and the library API give boxes);
    or the whole image padded to the input aspect (inference without boxes). The crop uses the
    UDP matrix when the codec is UDP.

    Required keys: ``image`` (H, W, 3).
    Modified keys: ``image`` becomes (h, w, 3) with [w, h] = ``codec.input_size``.
    Added keys: ``center`` (2,) pixels, ``scale`` (2,) in ``pixel_std`` units, ``rotate`` 0.

    Args:
        codec: the run's codec (the top-level ``codec:`` key), for the input size and UDP.
        pixel_std: pixels per ``scale`` unit.
        padding: enlargement of a ``bbox`` (the eval datasets use the same 1.25).
    """

    __category__ = 'transform'
    __shared__ = ['codec', 'pixel_std']
    __shared_only__ = ['codec']
    __moved__ = {'trainsize': 'trainsize (the codec input_size)', 'use_udp': 'codec.target_type'}

    def __init__(self, codec: KeypointCodec, pixel_std: float = 200.0,
                 padding: float = 1.25) -> None:
        if padding <= 0:
            raise ValueError(f'TopDownEvalAffine.padding must be positive, got {padding}')
        self.codec = codec
        self.trainsize = [int(v) for v in codec.input_size]
        self.use_udp = bool(getattr(codec, 'use_udp', False))
        self.pixel_std = float(pixel_std)
        self.padding = float(padding)

    def center_scale(self, record: Record) -> Tuple[np.ndarray, np.ndarray]:
        """(center (2,), scale (2,)) float32 of the crop this record asks for."""
        if 'center' in record and 'scale' in record:
            return (np.asarray(record['center'], dtype=np.float32),
                    np.asarray(record['scale'], dtype=np.float32))
        aspect = self.trainsize[0] / self.trainsize[1]
        height, width = record['image'].shape[:2]
        if 'bbox' in record:
            x, y, w, h = (float(v) for v in record['bbox'])
            box = clip_box_xywh([x, y, w, h], width, height) or [x, y, max(w, 1.0), max(h, 1.0)]
            return box_to_center_scale(box, aspect, self.pixel_std, self.padding)
        return box_to_center_scale([0.0, 0.0, width, height], aspect, self.pixel_std,
                                   padding=1.0)

    def __call__(self, record: Record) -> Record:
        center, scale = self.center_scale(record)
        scale_px = scale.astype(np.float64) * self.pixel_std
        mat = crop_matrix(center, scale_px, 0.0, self.trainsize, use_udp=self.use_udp)
        record['image'] = cv2.warpAffine(record['image'], mat, tuple(self.trainsize),
                                         flags=cv2.INTER_LINEAR)
        record.update(center=center, scale=scale, rotate=0.0)
        return record


def pixel_index_matrix(mat: np.ndarray) -> np.ndarray:
    """The matrix ``cv2.warpAffine`` needs to apply ``mat`` in the bottom-up pixel convention.

    The bottom-up ops and :class:`~ppkpt.codecs.AssociativeEmbeddingCodec` let pixel ``i``
    cover the interval ``[i, i + 1)`` (its centre is ``i + 0.5``, and a mirror is
    ``x -> W - x``); OpenCV puts the centre of pixel ``i`` at ``i``. The returned matrix maps
    OpenCV indices as ``index' = mat(index + 0.5) - 0.5``, so image content and points moved
    with ``mat`` stay together exactly, also when ``mat`` zooms.

    Args:
        mat: (2, 3) matrix between continuous coordinates (x, y).

    Returns:
        (2, 3) float64 matrix between OpenCV pixel indices.
    """
    mat = np.asarray(mat, dtype=np.float64)
    out = mat.copy()
    out[:, 2] += 0.5 * mat[:, :2].sum(axis=1) - 0.5
    return out


@serializable
class EvalAffine:
    """Resize a whole image for bottom-up evaluation and deploy, keeping its aspect ratio.

    The short side becomes ``size``; the long side is scaled by the same factor and rounded up
    to a multiple of ``stride``, the picture centred on it with black padding on both ends
    (PaddleDetection's ``EvalAffine`` sizes; its centre is rounded to whole pixels, this one is
    exact). Pixel ``i`` covers ``[i, i + 1)`` (see :func:`pixel_index_matrix`), the
    convention of :class:`~ppkpt.codecs.AssociativeEmbeddingCodec`.

    Required keys: ``image`` (H, W, 3).
    Modified keys: ``image`` becomes (h, w, 3) with ``min(h, w) = size`` and the other side
    ``ceil(long * size / short / stride) * stride``.
    Added keys: ``affine`` (2, 3) float64, the matrix from input pixels to original image
    pixels, for ``codec.decode_to_image(outputs, input_to_image=record['affine'])``.
    Other keys (``im_shape`` of the original image, ``im_id``) are left as they are.

    Args:
        size: short side of the network input in pixels; a multiple of ``stride``.
        stride: the long side is rounded up to a multiple of it (64 as in PaddleDetection, so
            its exported ``infer_cfg.yml`` gives the same input; HigherHRNet needs 32).
    """

    __category__ = 'transform'

    def __init__(self, size: int = 512, stride: int = 64) -> None:
        if stride < 1 or size < stride or size % stride:
            raise ValueError(f'EvalAffine.size must be a positive multiple of stride, got '
                             f'size={size}, stride={stride}')
        self.size = int(size)
        self.stride = int(stride)

    def input_size(self, width: int, height: int) -> Tuple[int, int]:
        """(w, h) of the network input for a ``width`` x ``height`` image."""
        zoom = self.size / min(width, height)
        long_side = int(np.ceil(max(width, height) * zoom / self.stride)) * self.stride
        return (self.size, long_side) if width < height else (long_side, self.size)

    def matrices(self, width: int, height: int) -> Tuple[np.ndarray, np.ndarray]:
        """(image -> input, input -> image) (2, 3) float64 matrices for a ``width`` x ``height``
        image: a zoom of ``size / min(width, height)`` about the image centre, which lands on
        the input centre."""
        zoom = self.size / min(width, height)
        input_w, input_h = self.input_size(width, height)
        forward = np.array([[zoom, 0.0, 0.5 * (input_w - zoom * width)],
                            [0.0, zoom, 0.5 * (input_h - zoom * height)]])
        inverse = np.array([[1.0 / zoom, 0.0, 0.5 * (width - input_w / zoom)],
                            [0.0, 1.0 / zoom, 0.5 * (height - input_h / zoom)]])
        return forward, inverse

    def __call__(self, record: Record) -> Record:
        image = record['image']
        height, width = image.shape[:2]
        forward, inverse = self.matrices(width, height)
        record['image'] = cv2.warpAffine(image, pixel_index_matrix(forward),
                                         self.input_size(width, height), flags=cv2.INTER_LINEAR)
        record['affine'] = inverse
        return record


@serializable
class NormalizeImage:
    """Normalise the image per channel: ``(image [/ 255] - mean) / std``.

    Computed in one cast and one multiply-add per pixel, ``image * scale - offset`` with
    ``scale = 1 / ([255 *] std)`` and ``offset = mean / std`` fixed at construction; the result
    matches the formula above to float32 rounding (a few 1e-7). ``norm_type='none'`` (a
    PaddleDetection option) only divides by 255 when ``is_scale``.

    Required keys: ``image`` (H, W, 3).
    Modified keys: ``image`` becomes (H, W, 3) float32.

    Args:
        mean: per-channel mean (3 values), in the 0-1 range when ``is_scale``.
        std: per-channel standard deviation (3 values, non-zero).
        is_scale: divide by 255 before subtracting the mean.
        norm_type: ``'mean_std'`` or ``'none'``.
    """

    __category__ = 'transform'

    def __init__(self, mean: List[float] = [0.485, 0.456, 0.406],
                 std: List[float] = [0.229, 0.224, 0.225], is_scale: bool = True,
                 norm_type: str = 'mean_std') -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'NormalizeImage mean and std need 3 values each, got mean={mean}, '
                             f'std={std}')
        if any(s == 0 for s in std):
            raise ValueError(f'NormalizeImage std must be non-zero, got {std}')
        if norm_type not in ('mean_std', 'none'):
            raise ValueError(f"NormalizeImage.norm_type must be 'mean_std' or 'none', "
                             f'got {norm_type!r}')
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.is_scale = is_scale
        self.norm_type = norm_type
        divisor = 255.0 if is_scale else 1.0
        if norm_type == 'mean_std':
            std64 = self.std.astype(np.float64)
            self.scale = (1.0 / (divisor * std64)).astype(np.float32)
            self.offset = (self.mean / std64).astype(np.float32)
        else:
            self.scale = np.full(3, 1.0 / divisor, dtype=np.float32)
            self.offset = np.zeros(3, dtype=np.float32)

    def __call__(self, record: Record) -> Record:
        image = record['image']
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'NormalizeImage expects an (H, W, 3) image, got {image.shape}')
        record['image'] = _scale_offset_channels(image, self.scale, self.offset)
        return record


def _scale_offset_channels(image: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``image * scale - offset`` per channel as a new C-contiguous float32 array.

    The (C,) vectors are tiled along the width so numpy works on whole rows (broadcasting a
    length-C last axis is several times slower).

    Args:
        image: (H, W, C) array of any real dtype; not modified.
        scale: (C,) float32 per-channel factors.
        offset: (C,) float32 per-channel offsets.

    Returns:
        (H, W, C) float32 array.
    """
    out = image.astype(np.float32, order='C')
    height, width, channels = out.shape
    rows = out.reshape(height, width * channels)
    rows *= np.tile(scale, width)
    rows -= np.tile(offset, width)
    return out


@serializable
class Permute:
    """Change the image layout from HWC to CHW.

    Required keys: ``image`` (H, W, C).
    Modified keys: ``image`` becomes (C, H, W) float32, contiguous.
    """

    __category__ = 'transform'

    def __call__(self, record: Record) -> Record:
        image = record['image']
        if image.ndim != 3:
            raise ValueError(f'Permute expects an (H, W, C) image, got shape {image.shape}')
        record['image'] = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
        return record


def _record_resize(record: Record, image: np.ndarray, ratio_h: float, ratio_w: float,
                   valid_wh: Tuple[int, int]) -> Record:
    """Store a resized ``image``, multiply ``scale_factor`` and scale ``gt_bbox`` if present.

    Boxes are clipped to ``valid_wh``, the part of ``image`` that holds the resized picture.
    """
    previous = np.asarray(record.get('scale_factor', [1.0, 1.0]), dtype=np.float32)
    record['scale_factor'] = previous * np.asarray([ratio_h, ratio_w], dtype=np.float32)
    record['im_shape'] = np.asarray(image.shape[:2], dtype=np.float32)
    if 'gt_bbox' in record:
        boxes = np.asarray(record['gt_bbox'], dtype=np.float32).reshape(-1, 4)
        scaled = boxes * np.asarray([ratio_w, ratio_h, ratio_w, ratio_h], np.float32)
        width, height = valid_wh
        record['gt_bbox'] = np.clip(scaled, 0, [width, height, width, height]).astype(np.float32)
    record['image'] = image
    return record


@serializable
class DetResize:
    """ppkpt's detector resize to ``target_size`` [w, h]; ``keep_ratio`` fits and pads.

    With ``keep_ratio`` the image is scaled by one factor to fit inside ``target_size`` and
    padded with zeros at the bottom and right, so every output has the same size.

    Required keys: ``image`` (H, W, 3). Modified: ``image`` (h, w, 3) with [w, h] =
    ``target_size``; ``gt_bbox`` scaled and clipped (if present). Added or multiplied:
    ``scale_factor`` (2,) float32 [h_ratio, w_ratio]; ``im_shape``.

    Args:
        target_size: output size [w, h].
        keep_ratio: keep the aspect ratio and pad instead of stretching.
        interp: OpenCV interpolation flag (1 = bilinear).
    """

    __category__ = 'transform'

    def __init__(self, target_size: List[int], keep_ratio: bool = False, interp: int = 1) -> None:
        if len(target_size) != 2 or min(target_size) < 1:
            raise ValueError(f'DetResize.target_size must be [w, h] > 0, got {target_size}')
        self.target_size = [int(v) for v in target_size]
        self.keep_ratio = keep_ratio
        self.interp = int(interp)

    def _ratios(self, height: int, width: int) -> Tuple[float, float]:
        target_w, target_h = self.target_size
        if self.keep_ratio:
            ratio = min(target_w / width, target_h / height)
            return ratio, ratio
        return target_h / height, target_w / width

    def __call__(self, record: Record) -> Record:
        image = record['image']
        height, width = image.shape[:2]
        ratio_h, ratio_w = self._ratios(height, width)
        target_w, target_h = self.target_size
        new_w = min(target_w, max(1, int(round(width * ratio_w))))
        new_h = min(target_h, max(1, int(round(height * ratio_h))))
        resized = cv2.resize(image, (new_w, new_h), interpolation=self.interp)
        if (new_w, new_h) != (target_w, target_h):
            canvas = np.zeros((target_h, target_w) + image.shape[2:], dtype=image.dtype)
            canvas[:new_h, :new_w] = resized
            resized = canvas
        return _record_resize(record, resized, ratio_h, ratio_w, (new_w, new_h))


@serializable
class Resize:
    """PaddleDetection's detector resize: ``target_size`` is [h, w].

    With ``keep_ratio`` one factor scales the short side to ``min(target_size)`` unless the long
    side would pass ``max(target_size)``; otherwise each side is stretched to its target.

    Args:
        target_size: [h, w] (or one int for a square).
        keep_ratio: keep the aspect ratio.
        interp: OpenCV interpolation flag.
    """

    __category__ = 'transform'

    def __init__(self, target_size: Any, keep_ratio: bool = True,
                 interp: int = cv2.INTER_LINEAR) -> None:
        size = [target_size, target_size] if isinstance(target_size, int) else list(target_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'Resize.target_size must be [h, w] > 0, got {target_size}')
        self.target_size = [int(v) for v in size]
        self.keep_ratio = keep_ratio
        self.interp = int(interp)

    def __call__(self, record: Record) -> Record:
        image = record['image']
        height, width = image.shape[:2]
        if self.keep_ratio:
            short, long = min(height, width), max(height, width)
            ratio_h = ratio_w = min(min(self.target_size) / short, max(self.target_size) / long)
        else:
            ratio_h, ratio_w = self.target_size[0] / height, self.target_size[1] / width
        resized = cv2.resize(image, None, fx=ratio_w, fy=ratio_h, interpolation=self.interp)
        return _record_resize(record, resized, ratio_h, ratio_w,
                              (resized.shape[1], resized.shape[0]))


@serializable
class PadStride:
    """Zero-pad a (C, H, W) image at the bottom and right to multiples of ``stride``.

    Args:
        stride: 0 or less disables padding.
    """

    __category__ = 'transform'

    def __init__(self, stride: int = 0) -> None:
        self.stride = int(stride)

    def __call__(self, record: Record) -> Record:
        if self.stride <= 0:
            return record
        image = record['image']
        channels, height, width = image.shape
        pad_h = int(np.ceil(height / self.stride) * self.stride)
        pad_w = int(np.ceil(width / self.stride) * self.stride)
        padded = np.zeros((channels, pad_h, pad_w), dtype=np.float32)
        padded[:, :height, :width] = image
        record['image'] = padded
        return record


PREPROCESS_OPS: Dict[str, Callable[..., Any]] = {
    'TopDownEvalAffine': TopDownEvalAffine, 'EvalAffine': EvalAffine,
    'NormalizeImage': NormalizeImage,
    'Permute': Permute, 'Resize': Resize, 'DetResize': DetResize, 'PadStride': PadStride,
}
"""The ops ``infer_cfg.yml`` may name in ``Preprocess`` (``Decode`` entries are skipped)."""


def build_preprocess(specs: Sequence[Mapping[str, Any]], codec: Optional[KeypointCodec] = None,
                     source: str = 'infer_cfg.yml') -> Compose:
    """Build ``[{type: OpName, **args}, ...]`` into one :class:`Compose`.

    Ops that take a ``codec`` get ``codec``; a PaddleDetection ``TopDownEvalAffine`` entry's
    ``trainsize`` must then equal the codec's input size.

    Raises:
        ValueError: naming ``source`` and the entry index for an unknown op, a missing codec
            or bad arguments.
    """
    ops = []
    for index, spec in enumerate(specs):
        args = dict(spec)
        name = args.pop('type', None)
        if name == 'Decode':
            continue
        where = f'{source}: Preprocess[{index}] ({name})'
        if name not in PREPROCESS_OPS:
            raise ValueError(f'{source}: Preprocess[{index}] has unknown type {name!r}; '
                             f'supported: {sorted(PREPROCESS_OPS)}')
        if name == 'TopDownEvalAffine':
            args = _codec_args(args, codec, where)
        try:
            ops.append(PREPROCESS_OPS[name](**args))
        except TypeError as err:
            raise ValueError(f'{where} has bad arguments {args}: {err}') from err
    return Compose(ops)


def _codec_args(args: Dict[str, Any], codec: Optional[KeypointCodec], where: str
                ) -> Dict[str, Any]:
    if codec is None:
        raise ValueError(f'{where} needs the model codec')
    trainsize = args.pop('trainsize', None)
    use_udp = args.pop('use_udp', None)
    input_size = [int(v) for v in codec.input_size]
    if trainsize is not None and [int(v) for v in trainsize] != input_size:
        raise ValueError(f'{where}: trainsize {list(trainsize)} differs from the codec input size '
                         f'{input_size}')
    if use_udp is not None and bool(use_udp) != bool(getattr(codec, 'use_udp', False)):
        raise ValueError(f'{where}: use_udp {use_udp} disagrees with the codec {codec}')
    return {**args, 'codec': codec}
