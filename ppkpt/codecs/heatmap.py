"""Gaussian heatmap targets and their decoding (numpy and cv2 only).

One :class:`HeatmapCodec` holds the input size, heatmap size, sigma, target type, decoding and
flip alignment, so the targets a model is trained on, its flip test and the decoding of its
predictions use the same geometry.

Dimension names: N instances, K joints, H x W heatmap rows x columns.
"""
from typing import Dict, List, Sequence, Tuple, Union

import cv2
import numpy as np

from ppkpt.codecs.base import KeypointCodec
from ppkpt.core.workspace import serializable
from ppkpt.geometry import flip_permutation, transform_preds

__all__ = ['HeatmapCodec', 'TARGET_TYPES', 'FLIP_ALIGNMENTS', 'flip_back', 'get_max_preds']

TARGET_TYPES = ('gaussian', 'dark', 'udp')
FLIP_ALIGNMENTS = ('pixel', 'exact', 'none')
_CV_MAX_CHANNELS = 128  # the channel limit of cv2 filters in OpenCV 5


@serializable
class HeatmapCodec(KeypointCodec):
    """Encode joints into Gaussian heatmaps and decode heatmaps into joints.

    Target types:
        * ``'gaussian'`` (HRNet, "MSRA"): stride ``input / heatmap``; an unnormalised Gaussian
          (peak 1) is centred on the joint rounded to the nearest heatmap pixel and cut to a
          square window of half-size ``3 * sigma``.
        * ``'dark'`` (DARK): same stride; the Gaussian is centred on the exact sub-pixel joint
          position and covers the whole heatmap.
        * ``'udp'`` (UDP): stride ``(input - 1) / (heatmap - 1)``; the window sits on the rounded
          position as for ``'gaussian'`` but the Gaussian inside is centred on the sub-pixel
          position. The crop (``TopDownAffine``) and its inverse use the UDP matrices too.

    A joint gets weight 0 when it is not visible or when its window lies entirely outside the
    heatmap. Decoding takes the arg-max and refines it either with DARK (``use_dark``: blur,
    log, one Newton step) or with a quarter-pixel step toward the higher neighbour.

    Flip test: a heatmap predicted on a mirrored input and mirrored back is off by
    ``1 - 1 / stride`` heatmap pixels to the left for the classic stride (a joint at input x
    maps to ``x / s``, its mirror to ``(W_in - 1 - x) / s``, and reversing the heatmap's
    columns gives ``x / s - (1 - 1 / s)``); with UDP spacing it lines up exactly.
    ``flip_alignment`` chooses the correction for the classic stride: ``'pixel'`` moves one
    whole pixel (PaddleDetection's ``shift_heatmap``, which over-corrects by ``1 / s`` and so
    leaves a small +x bias), ``'exact'`` moves ``1 - 1 / s`` by linear interpolation,
    ``'none'`` does not move. UDP codecs never shift.

    Args:
        input_size: model input size [w, h] in pixels (default: the top-level ``trainsize``).
        heatmap_size: heatmap size [w, h] in pixels (default: the top-level ``hmsize``).
        sigma: Gaussian standard deviation in heatmap pixels.
        target_type: one of ``'gaussian'``, ``'dark'``, ``'udp'``.
        use_dark: refine decoded peaks with DARK instead of the quarter offset.
        blur_kernel_size: odd Gaussian blur kernel size used by DARK decoding.
        flip_alignment: ``'pixel'``, ``'exact'`` or ``'none'`` (see above).
    """

    __shared__ = {'input_size': 'trainsize', 'heatmap_size': 'hmsize'}

    def __init__(self, input_size: List[int], heatmap_size: List[int], sigma: float = 2.0,
                 target_type: str = 'gaussian', use_dark: bool = True,
                 blur_kernel_size: int = 3, flip_alignment: str = 'pixel') -> None:
        self.input_size = _positive_size(input_size, 'input_size')
        self.heatmap_size = _positive_size(heatmap_size, 'heatmap_size')
        _check_choice(target_type, TARGET_TYPES, 'target_type')
        _check_choice(flip_alignment, FLIP_ALIGNMENTS, 'flip_alignment')
        if sigma <= 0:
            raise ValueError(f'HeatmapCodec.sigma must be positive, got {sigma}')
        if blur_kernel_size < 1 or blur_kernel_size % 2 == 0:
            raise ValueError(f'HeatmapCodec.blur_kernel_size must be a positive odd number, '
                             f'got {blur_kernel_size}')
        if target_type == 'udp' and np.any(self.heatmap_size < 2):
            raise ValueError(f'udp targets need a heatmap of at least 2x2, got {heatmap_size}')
        self.sigma = float(sigma)
        self.target_type = target_type
        self.use_dark = use_dark
        self.blur_kernel_size = blur_kernel_size
        self.flip_alignment = flip_alignment
        if self.use_udp:
            self.stride = (self.input_size - 1.0) / (self.heatmap_size - 1.0)
        else:
            self.stride = self.input_size / self.heatmap_size

    @property
    def use_udp(self) -> bool:
        """Whether the input-to-heatmap mapping uses UDP (pixel-centre) spacing."""
        return self.target_type == 'udp'

    @property
    def flip_shift(self) -> float:
        """Heatmap pixels to move a mirrored-back heatmap right in flip test (see the class)."""
        if self.use_udp or self.flip_alignment == 'none':
            return 0.0
        if self.flip_alignment == 'pixel':
            return 1.0
        return float(1.0 - 1.0 / self.stride[0])

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray
               ) -> Dict[str, np.ndarray]:
        """Heatmap target of the one instance of a crop.

        Args:
            keypoints: (1, K, D) or (K, D) joints (x, y, ...) in input pixels, D >= 2.
            keypoints_visible: (1, K) or (K,) visibility, > 0 for labelled joints.

        Returns:
            ``target`` (K, H, W) float32 heatmaps and ``target_weight`` (K, 1) float32
            per-joint loss weights.
        """
        joints, vis = _one_instance(keypoints, keypoints_visible)
        exact = joints[:, :2] / self.stride
        rounded = np.floor(exact + 0.5)
        anchor = exact if self.target_type == 'dark' else rounded
        peak = rounded if self.target_type == 'gaussian' else exact
        radius = 3.0 * self.sigma

        weight = (vis > 0) * self._in_bounds(anchor, radius)
        width, height = (int(v) for v in self.heatmap_size)
        windowed = self.target_type != 'dark'
        gauss_x = self._axis_profile(peak[:, 0], anchor[:, 0], width, radius, windowed)
        gauss_y = self._axis_profile(peak[:, 1], anchor[:, 1], height, radius, windowed)
        gauss_y *= (weight > 0.5)[:, None]
        target = gauss_y.astype(np.float32)[:, :, None] * gauss_x.astype(np.float32)[:, None, :]
        return {'target': target, 'target_weight': weight[:, None].astype(np.float32)}

    def _in_bounds(self, anchor: np.ndarray, radius: float) -> np.ndarray:
        """(K,) True where the window around ``anchor`` (K, 2) overlaps the heatmap."""
        first = np.floor(anchor - radius)
        last = np.floor(anchor + radius + 1.0)
        return np.all((first < self.heatmap_size) & (last >= 0), axis=1)

    def _axis_profile(self, peak: np.ndarray, anchor: np.ndarray, length: int, radius: float,
                      windowed: bool) -> np.ndarray:
        """(K, length) 1-D Gaussian along one axis; zero outside ``anchor +- radius`` if windowed.

        The 2-D target is the outer product of the two axis profiles, because
        ``exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2)`` and the window is
        a square.
        """
        grid = np.arange(length, dtype=np.float64)[None, :]
        profile = np.exp(-((grid - peak[:, None]) ** 2) / (2.0 * self.sigma ** 2))
        if windowed:
            profile *= np.abs(grid - anchor[:, None]) <= radius
        return profile

    def merge_flip(self, plain: np.ndarray, mirrored: np.ndarray,
                   flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
        """Flip test: average heatmaps with those of the mirrored crops, mirrored back.

        Mirroring back reverses W and swaps the ``flip_pairs`` channels (:func:`flip_back`),
        then moves the maps :attr:`flip_shift` pixels right (linear interpolation between no
        shift and one pixel; column 0 keeps its value). Evaluation and deploy both call this.

        Args:
            plain: (N, K, H, W) heatmaps of the crops.
            mirrored: (N, K, H, W) heatmaps of the horizontally mirrored crops.
            flip_pairs: [left, right] joint pairs; may be empty.

        Returns:
            (N, K, H, W) float32 merged heatmaps.
        """
        back = flip_back(mirrored, flip_pairs)
        shift = self.flip_shift
        if shift > 0.0:
            moved = np.concatenate([back[..., :1], back[..., :-1]], axis=-1)
            back = moved if shift == 1.0 else back * (1.0 - shift) + moved * shift
        return ((np.asarray(plain) + back) * 0.5).astype(np.float32)

    def decode_heatmap_coords(self, heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Peaks in heatmap pixels with sub-pixel refinement.

        Args:
            heatmaps: (N, K, H, W) heatmaps.

        Returns:
            coords: (N, K, 2) float64 peak positions (x, y) in heatmap pixels; (0, 0) where the
                maximum is not positive.
            maxvals: (N, K) heatmap maxima (the joint confidences).
        """
        heatmaps = _check_heatmaps(heatmaps)
        coords, maxvals = get_max_preds(heatmaps)
        if self.use_dark:
            coords = _dark_refine(heatmaps, coords, self.blur_kernel_size)
        else:
            coords = _quarter_offset_refine(heatmaps, coords)
        return coords, maxvals[..., 0]

    def decode(self, outputs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints in model input pixels.

        Args:
            outputs: (N, K, H, W) heatmaps.

        Returns:
            keypoints: (N, K, 2) float32 (x, y) in input pixels.
            scores: (N, K) float32 heatmap maxima.
        """
        coords, maxvals = self.decode_heatmap_coords(outputs)
        return (coords * self.stride).astype(np.float32), maxvals.astype(np.float32)

    def decode_to_image(self, heatmaps: np.ndarray, centers: np.ndarray,
                        scales_px: np.ndarray) -> np.ndarray:
        """Decode heatmaps and map the peaks back to image pixels through each crop.

        The inverse crop is the UDP one when this codec's ``target_type`` is ``'udp'``.

        Args:
            heatmaps: (N, K, H, W) heatmaps of N crops.
            centers: (N, 2) crop centres in image pixels.
            scales_px: (N, 2) crop sizes (w, h) in image pixels.

        Returns:
            (N, K, 3) float32 keypoints (x, y, confidence) in image pixels.

        Raises:
            ValueError: when ``centers`` or ``scales_px`` is not (N, 2), or the heatmaps are
                not ``heatmap_size``.
        """
        heatmaps = _check_heatmaps(heatmaps)
        self.check_heatmap_size(heatmaps.shape)
        coords, maxvals = self.decode_heatmap_coords(heatmaps)
        centers = np.asarray(centers, dtype=np.float64)
        scales_px = np.asarray(scales_px, dtype=np.float64)
        if centers.shape != (len(coords), 2) or scales_px.shape != (len(coords), 2):
            raise ValueError(f'decode_to_image: centers and scales_px must be [{len(coords)}, 2], '
                             f'got {list(centers.shape)} and {list(scales_px.shape)}')
        keypoints = np.zeros(coords.shape[:2] + (3,), dtype=np.float32)
        for i, (center, scale_px) in enumerate(zip(centers, scales_px)):
            keypoints[i, :, :2] = transform_preds(coords[i], center, scale_px, self.heatmap_size,
                                                  use_udp=self.use_udp)
        keypoints[:, :, 2] = maxvals
        return keypoints

    def check_heatmap_size(self, shape: Sequence[int]) -> None:
        """Raise ValueError when an (N, K, H, W) ``shape`` is not this codec's heatmap size."""
        got = [int(shape[-1]), int(shape[-2])]
        if got != [int(v) for v in self.heatmap_size]:
            raise ValueError(f'the model outputs {got[0]}x{got[1]} heatmaps but the codec\'s '
                             f'heatmap_size is {[int(v) for v in self.heatmap_size]} [w, h]; set '
                             f'hmsize (or codec.heatmap_size) to the model\'s output size')


def _check_choice(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise ValueError(f'HeatmapCodec.{name} must be one of {list(choices)}, got {value!r}')


def _one_instance(keypoints: np.ndarray, visible: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(K, D) joints and (K,) visibility of a crop's single instance."""
    joints = np.asarray(keypoints, dtype=np.float64)
    vis = np.asarray(visible, dtype=np.float64)
    if joints.ndim == 3:
        if joints.shape[0] != 1:
            raise ValueError(f'a top-down crop holds one instance, got keypoints of shape '
                             f'{joints.shape}')
        joints, vis = joints[0], vis.reshape(vis.shape[1:]) if vis.ndim > 1 else vis
    if joints.ndim != 2 or joints.shape[1] < 2:
        raise ValueError(f'keypoints must have shape (1, K, D) or (K, D), got {joints.shape}')
    if vis.shape != (joints.shape[0],):
        raise ValueError(f'keypoints_visible must have shape (K,) with K = {joints.shape[0]}, '
                         f'got {np.shape(visible)}')
    return joints, vis


def _positive_size(size: Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(size, dtype=np.float64)
    if arr.shape != (2,) or np.any(arr <= 0):
        raise ValueError(f'{name} must be [w, h] with positive values, got {size!r}')
    return arr


def _check_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f'heatmaps must have shape (N, K, H, W), got {heatmaps.shape}')
    return heatmaps


def get_max_preds(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Integer arg-max of every heatmap.

    Args:
        heatmaps: (N, K, H, W) heatmaps.

    Returns:
        coords: (N, K, 2) float64 arg-max positions (x, y); (0, 0) where the maximum is <= 0.
        maxvals: (N, K, 1) maxima, in the dtype of ``heatmaps``.
    """
    heatmaps = _check_heatmaps(heatmaps)
    n, k, _, width = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    index = np.argmax(flat, axis=2)
    maxvals = np.take_along_axis(flat, index[..., None], axis=2)
    coords = np.stack([index % width, index // width], axis=-1).astype(np.float64)
    return coords * (maxvals > 0), maxvals


def _sample(heatmaps: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Values ``heatmaps[n, k, ys[n, k], xs[n, k]]`` (N, K); indices are clipped to the map."""
    n, k, height, width = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    index = np.clip(ys, 0, height - 1) * width + np.clip(xs, 0, width - 1)
    return np.take_along_axis(flat, index[..., None], axis=2)[..., 0]


def _quarter_offset_refine(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Move each peak a quarter pixel toward its higher neighbour along x and along y.

    Applied where the rounded peak satisfies ``1 < x < W - 1`` and ``1 < y < H - 1``.
    """
    _, _, height, width = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    valid = (px > 1) & (px < width - 1) & (py > 1) & (py < height - 1)
    diff_x = _sample(heatmaps, px + 1, py) - _sample(heatmaps, px - 1, py)
    diff_y = _sample(heatmaps, px, py + 1) - _sample(heatmaps, px, py - 1)
    step = 0.25 * np.sign(np.stack([diff_x, diff_y], axis=-1)) * valid[..., None]
    return coords + step


def _gaussian_blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """Blur every map with a zero border and rescale it to its original maximum.

    Args:
        heatmaps: (N, K, H, W) heatmaps.
        kernel: odd kernel size.

    Returns:
        (N, K, H, W) float64 blurred heatmaps.
    """
    n, k, height, width = heatmaps.shape
    stack = np.ascontiguousarray(heatmaps.reshape(n * k, height, width).transpose(1, 2, 0),
                                 dtype=np.float64)
    blurred = np.empty_like(stack)
    for start in range(0, n * k, _CV_MAX_CHANNELS):
        chunk = np.ascontiguousarray(stack[..., start:start + _CV_MAX_CHANNELS])
        out = cv2.GaussianBlur(chunk, (kernel, kernel), 0, borderType=cv2.BORDER_CONSTANT)
        blurred[..., start:start + _CV_MAX_CHANNELS] = out.reshape(chunk.shape)
    blurred = blurred.transpose(2, 0, 1).reshape(n, k, height, width)
    original_max = heatmaps.max(axis=(2, 3), keepdims=True)
    blurred_max = blurred.max(axis=(2, 3), keepdims=True)
    safe_max = np.where(blurred_max > 0, blurred_max, 1.0)
    return blurred * np.where(blurred_max > 0, original_max / safe_max, 1.0)


def _dark_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int) -> np.ndarray:
    """DARK refinement: one Newton step on the log of the blurred heatmap.

    With ``g`` the gradient and ``Hs`` the Hessian of ``log(blur(heatmap))`` at the integer
    peak (central differences), the peak moves by ``-Hs^-1 g``. Applied where
    ``1 < x < W - 2``, ``1 < y < H - 2`` and ``det(Hs) != 0``.
    """
    _, _, height, width = heatmaps.shape
    logmap = np.log(np.maximum(_gaussian_blur(heatmaps, kernel), 1e-10))
    px = coords[..., 0].astype(np.int64)
    py = coords[..., 1].astype(np.int64)

    def at(dx: int, dy: int) -> np.ndarray:
        return _sample(logmap, px + dx, py + dy)

    center = at(0, 0)
    grad_x = 0.5 * (at(1, 0) - at(-1, 0))
    grad_y = 0.5 * (at(0, 1) - at(0, -1))
    hxx = 0.25 * (at(2, 0) - 2.0 * center + at(-2, 0))
    hyy = 0.25 * (at(0, 2) - 2.0 * center + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy ** 2
    valid = ((px > 1) & (px < width - 2) & (py > 1) & (py < height - 2) & (det != 0))
    safe_det = np.where(valid, det, 1.0)
    offset_x = -(hyy * grad_x - hxy * grad_y) / safe_det
    offset_y = -(hxx * grad_y - hxy * grad_x) / safe_det
    return coords + np.stack([offset_x, offset_y], axis=-1) * valid[..., None]


def flip_back(heatmaps: np.ndarray,
              flip_pairs: Union[np.ndarray, Sequence[Sequence[int]]]) -> np.ndarray:
    """Undo a horizontal flip on heatmaps predicted from a flipped image.

    Reverses the W axis, then swaps the channels of every [left, right] pair.

    Args:
        heatmaps: (N, K, H, W) heatmaps of the flipped image.
        flip_pairs: (P, 2) joint index pairs that swap under a flip; may be empty.

    Returns:
        (N, K, H, W) heatmaps in the original image orientation.
    """
    heatmaps = _check_heatmaps(heatmaps)
    perm = flip_permutation(flip_pairs, heatmaps.shape[1])
    return np.ascontiguousarray(heatmaps[:, perm, :, ::-1])

