"""Preprocess ops named in ``infer_cfg.yml`` (numpy and cv2; geometry from ``ppkpt.geometry``).

Each op is called as ``op(image, im_info) -> (image, im_info)``. ``im_info`` carries
``im_shape`` (2,) [h, w] of the current image, ``scale_factor`` (2,) [h_ratio, w_ratio] of the
current over the original size, and for keypoint crops ``center`` (2,) and ``scale`` (2,).

Both ppkpt's ops (``TopDownEvalAffine``, ``DetResize``) and the PaddleDetection detector ops
(``Resize`` with ``target_size`` [h, w], ``keep_ratio``, ``interp``; ``NormalizeImage``;
``Permute``; ``PadStride``) are understood, so PaddleDetection-exported detectors work.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppkpt.geometry import box_to_center_scale, crop_matrix
from ppkpt.image_io import read_rgb

__all__ = ['TopDownEvalAffine', 'NormalizeImage', 'Permute', 'Resize', 'DetResize', 'PadStride',
           'Compose', 'build_preprocess', 'decode_image', 'SUPPORTED_OPS']

ImInfo = Dict[str, np.ndarray]


def decode_image(image: Any) -> Tuple[np.ndarray, ImInfo]:
    """An RGB image and its initial ``im_info`` from a path or an (H, W, 3) RGB array.

    Raises:
        FileNotFoundError: when a path does not exist.
        ValueError: when the file cannot be decoded or the array is not (H, W, 3).
    """
    if isinstance(image, str):
        image = read_rgb(image)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) image, got shape {image.shape}')
    im_info = {'im_shape': np.asarray(image.shape[:2], dtype=np.float32),
               'scale_factor': np.ones(2, dtype=np.float32)}
    return image, im_info


class TopDownEvalAffine:
    """Warp the box ``im_info['center']``/``['scale']`` (or the whole image) to ``trainsize``.

    Without ``center``/``scale`` the box is the whole image padded to the ``trainsize`` aspect
    ratio; they are then added to ``im_info``.

    Args:
        trainsize: crop size [w, h].
        use_udp: use the UDP crop matrix.
        pixel_std: pixels per ``scale`` unit.
    """

    def __init__(self, trainsize: Sequence[int], use_udp: bool = False,
                 pixel_std: float = 200.0) -> None:
        if len(trainsize) != 2 or min(trainsize) <= 0:
            raise ValueError(f'TopDownEvalAffine.trainsize must be [w, h] > 0, got {trainsize}')
        self.trainsize = [int(v) for v in trainsize]
        self.use_udp = use_udp
        self.pixel_std = float(pixel_std)

    def __call__(self, image: np.ndarray, im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
        if 'center' not in im_info or 'scale' not in im_info:
            height, width = image.shape[:2]
            center, scale = box_to_center_scale([0.0, 0.0, width, height],
                                                self.trainsize[0] / self.trainsize[1],
                                                self.pixel_std, padding=1.0)
            im_info['center'], im_info['scale'] = center, scale
        scale_px = np.asarray(im_info['scale'], dtype=np.float64) * self.pixel_std
        mat = crop_matrix(im_info['center'], scale_px, 0.0, self.trainsize, use_udp=self.use_udp)
        warped = cv2.warpAffine(image, mat, tuple(self.trainsize), flags=cv2.INTER_LINEAR)
        im_info['im_shape'] = np.asarray(warped.shape[:2], dtype=np.float32)
        return warped, im_info


class NormalizeImage:
    """``(image [/ 255] - mean) / std`` per channel; ``norm_type='none'`` only rescales.

    One cast and one multiply-add per pixel, ``image * scale - offset`` with per-channel
    ``scale`` and ``offset`` fixed at construction (equal to the formula to float32 rounding).

    Args:
        mean: 3 channel means (0-1 range when ``is_scale``).
        std: 3 non-zero channel standard deviations.
        is_scale: divide by 255 first.
        norm_type: ``'mean_std'`` or ``'none'`` (PaddleDetection's option).
    """

    def __init__(self, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), is_scale: bool = True,
                 norm_type: str = 'mean_std') -> None:
        if len(mean) != 3 or len(std) != 3 or any(s == 0 for s in std):
            raise ValueError(f'NormalizeImage needs 3 means and 3 non-zero stds, got mean={mean}, '
                             f'std={std}')
        if norm_type not in ('mean_std', 'none'):
            raise ValueError(f"NormalizeImage.norm_type must be 'mean_std' or 'none', "
                             f'got {norm_type!r}')
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.is_scale = is_scale
        self.norm_type = norm_type
        # 'none' keeps one factor, so images of any channel count still work as before.
        divisor = np.float64(255.0 if is_scale else 1.0)
        if norm_type == 'mean_std':
            self.scale = (1.0 / (divisor * self.std.astype(np.float64))).astype(np.float32)
            self.offset = (self.mean / self.std.astype(np.float64)).astype(np.float32)
        else:
            self.scale = np.full(1, 1.0 / divisor, dtype=np.float32)
            self.offset = np.zeros(1, dtype=np.float32)

    def __call__(self, image: np.ndarray, im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
        out = image.astype(np.float32, order='C')
        scale, offset = self.scale, self.offset
        if out.ndim == 3 and out.shape[2] == scale.size > 1:
            # Tile the (C,) factors along the width so numpy works on whole rows: several
            # times faster than broadcasting a length-C last axis.
            out_rows = out.reshape(out.shape[0], -1)
            out_rows *= np.tile(scale, out.shape[1])
            out_rows -= np.tile(offset, out.shape[1])
        else:
            out *= scale
            out -= offset
        return out, im_info


class Permute:
    """(H, W, C) -> (C, H, W) float32."""

    def __call__(self, image: np.ndarray, im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32), im_info


def _resize(image: np.ndarray, ratio_h: float, ratio_w: float, interp: int,
            im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
    resized = cv2.resize(image, None, fx=ratio_w, fy=ratio_h, interpolation=interp)
    im_info['scale_factor'] = (np.asarray(im_info['scale_factor'], dtype=np.float32)
                               * np.asarray([ratio_h, ratio_w], dtype=np.float32))
    im_info['im_shape'] = np.asarray(resized.shape[:2], dtype=np.float32)
    return resized, im_info


class Resize:
    """PaddleDetection's detector resize: ``target_size`` is [h, w].

    With ``keep_ratio`` one factor scales the short side to ``min(target_size)`` unless the long
    side would pass ``max(target_size)``; otherwise each side is stretched to its target.

    Args:
        target_size: [h, w] (or one int for a square).
        keep_ratio: keep the aspect ratio.
        interp: OpenCV interpolation flag.
    """

    def __init__(self, target_size: Any, keep_ratio: bool = True, interp: int = cv2.INTER_LINEAR
                 ) -> None:
        size = [target_size, target_size] if isinstance(target_size, int) else list(target_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'Resize.target_size must be [h, w] > 0, got {target_size}')
        self.target_size = [int(v) for v in size]
        self.keep_ratio = keep_ratio
        self.interp = int(interp)

    def __call__(self, image: np.ndarray, im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
        height, width = image.shape[:2]
        if self.keep_ratio:
            short, long = min(height, width), max(height, width)
            ratio = min(min(self.target_size) / short, max(self.target_size) / long)
            return _resize(image, ratio, ratio, self.interp, im_info)
        return _resize(image, self.target_size[0] / height, self.target_size[1] / width,
                       self.interp, im_info)


class DetResize:
    """ppkpt's detector resize: ``target_size`` is [w, h]; ``keep_ratio`` fits and pads.

    Matches the training-side ``DetResize``: with ``keep_ratio`` one factor fits the image inside
    ``target_size`` and zeros pad the bottom and right, so the output is always ``target_size``.

    Args:
        target_size: [w, h].
        keep_ratio: keep the aspect ratio and pad.
        interp: OpenCV interpolation flag.
    """

    def __init__(self, target_size: Sequence[int], keep_ratio: bool = False,
                 interp: int = cv2.INTER_LINEAR) -> None:
        if len(target_size) != 2 or min(target_size) <= 0:
            raise ValueError(f'DetResize.target_size must be [w, h] > 0, got {target_size}')
        self.target_size = [int(v) for v in target_size]
        self.keep_ratio = keep_ratio
        self.interp = int(interp)

    def __call__(self, image: np.ndarray, im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
        height, width = image.shape[:2]
        target_w, target_h = self.target_size
        if self.keep_ratio:
            ratio = min(target_w / width, target_h / height)
            ratio_h = ratio_w = ratio
        else:
            ratio_h, ratio_w = target_h / height, target_w / width
        new_w = min(target_w, max(1, int(round(width * ratio_w))))
        new_h = min(target_h, max(1, int(round(height * ratio_h))))
        resized = cv2.resize(image, (new_w, new_h), interpolation=self.interp)
        canvas = np.zeros((target_h, target_w) + image.shape[2:], dtype=image.dtype)
        canvas[:new_h, :new_w] = resized
        im_info['scale_factor'] = (np.asarray(im_info['scale_factor'], dtype=np.float32)
                                   * np.asarray([ratio_h, ratio_w], dtype=np.float32))
        im_info['im_shape'] = np.asarray([target_h, target_w], dtype=np.float32)
        return canvas, im_info


class PadStride:
    """Zero-pad a (C, H, W) image at the bottom and right to multiples of ``stride``.

    Args:
        stride: 0 or less disables padding.
    """

    def __init__(self, stride: int = 0) -> None:
        self.stride = int(stride)

    def __call__(self, image: np.ndarray, im_info: ImInfo) -> Tuple[np.ndarray, ImInfo]:
        if self.stride <= 0:
            return image, im_info
        channels, height, width = image.shape
        pad_h = int(np.ceil(height / self.stride) * self.stride)
        pad_w = int(np.ceil(width / self.stride) * self.stride)
        padded = np.zeros((channels, pad_h, pad_w), dtype=np.float32)
        padded[:, :height, :width] = image
        return padded, im_info


SUPPORTED_OPS: Dict[str, Callable[..., Any]] = {
    'TopDownEvalAffine': TopDownEvalAffine, 'NormalizeImage': NormalizeImage,
    'Permute': Permute, 'Resize': Resize, 'DetResize': DetResize, 'PadStride': PadStride,
}


class Compose:
    """Apply ops in order to ``(image, im_info)``."""

    def __init__(self, ops: List[Callable[..., Any]]) -> None:
        self.ops = ops

    def __call__(self, image: np.ndarray, im_info: Optional[ImInfo] = None
                 ) -> Tuple[np.ndarray, ImInfo]:
        if im_info is None:
            image, im_info = decode_image(image)
        for op in self.ops:
            image, im_info = op(image, im_info)
        return image, im_info


def build_preprocess(ops: List[Dict[str, Any]], source: str = 'infer_cfg.yml') -> Compose:
    """Build ops from ``[{type: OpName, **args}, ...]`` (``Decode`` entries are skipped).

    Raises:
        ValueError: naming the entry index and the supported op names for an unknown op or
            bad arguments.
    """
    built = []
    for index, spec in enumerate(ops):
        args = dict(spec)
        name = args.pop('type', None)
        if name == 'Decode':
            continue
        if name not in SUPPORTED_OPS:
            raise ValueError(f'{source}: Preprocess[{index}] has unknown type {name!r}; '
                             f'supported: {sorted(SUPPORTED_OPS)}')
        try:
            built.append(SUPPORTED_OPS[name](**args))
        except TypeError as err:
            raise ValueError(f'{source}: Preprocess[{index}] ({name}) has bad arguments {args}: '
                             f'{err}') from err
    return Compose(built)
