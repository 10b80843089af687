"""Bottom-up targets and grouping with associative embedding (numpy, cv2 and scipy only).

:class:`AssociativeEmbeddingCodec` is the codec of HigherHRNet: training targets are heatmaps
at two resolutions plus the tag positions the associative-embedding loss gathers, and decoding
finds the peaks of every joint and groups them into people by their tags
(:mod:`ppkpt.codecs.tag_grouping`).

Pixel convention: a joint at input pixel ``x`` lands on map pixel ``floor(x / stride)`` (as
PaddleDetection's ``ToHeatmaps``), so map pixel ``c`` stands for the input interval
``[c * stride, (c + 1) * stride)`` and decodes to its centre ``(c + 0.5) * stride``. With this
convention flip test needs no shift: the targets of an image mirrored as ``x -> W_in - x`` are
exactly the mirrored targets (``flip_shift`` is 0).

Dimension names: N people of one image (encode), P decoded people, K joints, M
``max_num_people``, H x W map rows x columns, T tag values per joint (1, or 2 with flip test).
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from ppkpt.codecs.base import KeypointCodec
from ppkpt.codecs.tag_grouping import (group_by_tags, quarter_offsets, recover_missing,
                                       top_peaks)
from ppkpt.core.workspace import serializable
from ppkpt.geometry import affine_transform_points, crop_matrix, flip_permutation

__all__ = ['AssociativeEmbeddingCodec', 'BottomUpPeople']

class BottomUpPeople(NamedTuple):
    """The people decoded from one image.

    Attributes:
        keypoints: (P, K, 2) float32 (x, y) in model input pixels.
        keypoint_scores: (P, K) float32 joint confidences (0 where a joint was not found).
        scores: (P,) float32 person scores, highest first.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    scores: np.ndarray


@serializable
class AssociativeEmbeddingCodec(KeypointCodec):
    """HigherHRNet targets (two heatmap resolutions + tag positions) and tag grouping.

    Encoding (all people of one image, in input pixels):
        * ``heatmap_gt1x`` (K, H/s0, W/s0) and ``heatmap_gt2x`` (K, H/s1, W/s1) float32 for
          ``heatmap_strides = [s0, s1]``: per joint, the maximum over people of an unnormalised
          Gaussian (peak 1, ``sigma`` map pixels) centred on ``floor(x / s)`` and cut to the
          square of half-size ``3 * sigma + 1``; joints off the map are skipped.
        * ``tagmap`` (M, K, 2) int64: per person and joint the flat index ``y * W + x`` into the
          ``heatmap_gt1x`` map and a 1/0 valid flag (visible and on the map); people after the
          first M get no tags. Crowd masks come from the dataset, not the codec.

    Decoding (one image; maps at stride ``heatmap_strides[-1]``), as PaddleDetection's
    ``HrHRNetPostProcess``:
        1. peaks: values equal to the maximum of their ``nms_kernel`` square, top M per joint;
        2. grouping, joint by joint in order 0..K-1: candidates above ``detection_threshold``
           are matched to the people found so far (the first M of them) by
           ``scipy.optimize.linear_sum_assignment`` on ``round(|tag - mean tag|) * 100 - heat``
           (padded with zero-cost columns when candidates outnumber people); a match with tag
           distance ``< tag_threshold`` joins that person, any other candidate starts one;
        3. ``use_refine``: a quarter map pixel toward the higher neighbour along x and y (no
           move on a tie);
        4. ``recover_missing``: a joint a person lacks is taken at the arg-max of
           ``heatmap - round(|tag - person's mean tag|)`` when that value is positive;
        5. person score = mean of the K grouped joint scores before recovery (0 for missing
           ones); the M best people are kept.

    Args:
        input_size: model input size [w, h] in pixels the targets are made for (default: the
            top-level ``trainsize``); each must be divisible by both strides.
        heatmap_strides: [s0, s1] input pixels per map pixel of ``heatmap_gt1x`` (tags) and
            ``heatmap_gt2x``; decoding reads maps at stride s1.
        sigma: Gaussian standard deviation in map pixels (the same at both resolutions).
        max_num_people: M, the people encoded in ``tagmap`` and decoded per image.
        detection_threshold: minimum peak value of a grouped joint.
        tag_threshold: maximum tag distance for a joint to join a person.
        nms_kernel: odd side of the peak square in map pixels (3 at stride 2 is
            PaddleDetection's 5 at input resolution).
        use_refine: apply the quarter-pixel refinement.
        recover_missing: fill the joints a person lacks from the heatmaps (PaddleDetection's
            salvage step).
    """

    __shared__ = {'input_size': 'trainsize'}

    def __init__(self, input_size: List[int], heatmap_strides: Sequence[int] = (4, 2),
                 sigma: float = 2.0, max_num_people: int = 30, detection_threshold: float = 0.1,
                 tag_threshold: float = 1.0, nms_kernel: int = 3, use_refine: bool = True,
                 recover_missing: bool = True) -> None:
        self.heatmap_strides = _strides(heatmap_strides)
        self.input_size = _input_size(input_size, self.heatmap_strides)
        if sigma <= 0:
            raise ValueError(f'AssociativeEmbeddingCodec.sigma must be positive, got {sigma}')
        if max_num_people < 1:
            raise ValueError(f'AssociativeEmbeddingCodec.max_num_people must be >= 1, '
                             f'got {max_num_people}')
        if nms_kernel < 1 or nms_kernel % 2 == 0:
            raise ValueError(f'AssociativeEmbeddingCodec.nms_kernel must be a positive odd '
                             f'number, got {nms_kernel}')
        self.sigma = float(sigma)
        self.max_num_people = int(max_num_people)
        self.detection_threshold = float(detection_threshold)
        self.tag_threshold = float(tag_threshold)
        self.nms_kernel = int(nms_kernel)
        self.use_refine = use_refine
        self.recover_missing = recover_missing

    @property
    def decode_stride(self) -> int:
        """Input pixels per map pixel of the maps :meth:`decode` reads."""
        return self.heatmap_strides[-1]

    def map_size(self, stride: int) -> Tuple[int, int]:
        """(w, h) of the target map at ``stride`` for :attr:`input_size`."""
        return int(self.input_size[0]) // stride, int(self.input_size[1]) // stride

    # ------------------------------------------------------------------ encode

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray
               ) -> Dict[str, np.ndarray]:
        """Targets of all people of one image.

        Args:
            keypoints: (N, K, D) joints (x, y, ...) in input pixels, D >= 2; N may be 0.
            keypoints_visible: (N, K) visibility, > 0 for labelled joints.

        Returns:
            ``heatmap_gt1x`` (K, H/s0, W/s0) and ``heatmap_gt2x`` (K, H/s1, W/s1) float32,
            ``tagmap`` (M, K, 2) int64 (see the class docstring).
        """
        joints, visible = _people(keypoints, keypoints_visible)
        cells = [self._cells(joints, visible, stride) for stride in self.heatmap_strides]
        heatmaps = [self._heatmaps(cell, on_map, stride)
                    for (cell, on_map), stride in zip(cells, self.heatmap_strides)]
        return {'heatmap_gt1x': heatmaps[0], 'heatmap_gt2x': heatmaps[1],
                'tagmap': self._tagmap(*cells[0], joints.shape[1])}

    def _cells(self, joints: np.ndarray, visible: np.ndarray, stride: int
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Map pixels (N, K, 2) int64 (x, y) of the joints and (N, K) whether each is on the map."""
        cell = np.floor(joints / stride).astype(np.int64)
        width, height = self.map_size(stride)
        on_map = ((visible > 0) & (cell[..., 0] >= 0) & (cell[..., 0] < width)
                  & (cell[..., 1] >= 0) & (cell[..., 1] < height))
        return cell, on_map

    def _heatmaps(self, cell: np.ndarray, on_map: np.ndarray, stride: int) -> np.ndarray:
        """(K, H, W) float32 maximum over people of the windowed Gaussians at ``cell``."""
        width, height = self.map_size(stride)
        radius = 3.0 * self.sigma + 1.0
        heatmaps = np.zeros((cell.shape[1], height, width), dtype=np.float32)
        for person_cell, person_on_map in zip(cell, on_map):
            gauss_x = self._profile(person_cell[:, 0], width, radius)
            gauss_y = self._profile(person_cell[:, 1], height, radius) * person_on_map[:, None]
            np.maximum(heatmaps, gauss_y[:, :, None] * gauss_x[:, None, :], out=heatmaps)
        return heatmaps

    def _profile(self, centers: np.ndarray, length: int, radius: float) -> np.ndarray:
        """(K, length) float32 1-D Gaussians at ``centers`` (K,), zero beyond ``radius``.

        The 2-D window is the outer product of the x and y profiles, since a square window of a
        separable Gaussian is separable.
        """
        offset = np.arange(length)[None, :] - centers[:, None]
        profile = np.exp(-offset.astype(np.float64) ** 2 / (2.0 * self.sigma ** 2))
        return (profile * (np.abs(offset) <= radius)).astype(np.float32)

    def _tagmap(self, cell: np.ndarray, on_map: np.ndarray, num_joints: int) -> np.ndarray:
        """(M, K, 2) int64 flat indices into the first map and valid flags of the first M people."""
        width, _ = self.map_size(self.heatmap_strides[0])
        count = min(len(cell), self.max_num_people)
        tagmap = np.zeros((self.max_num_people, num_joints, 2), dtype=np.int64)
        valid = on_map[:count]
        tagmap[:count, :, 0] = np.where(valid, cell[:count, :, 1] * width + cell[:count, :, 0], 0)
        tagmap[:count, :, 1] = valid
        return tagmap

    # ------------------------------------------------------------------ decode

    def decode(self, outputs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of the people of one image, in model input pixels.

        Args:
            outputs: ``heatmaps`` (1, K, H, W) and ``tags`` (1, K, H, W, T) or (1, K, H, W), at
                stride :attr:`decode_stride`.

        Returns:
            keypoints: (P, K, 2) float32 (x, y) in input pixels, people by score.
            scores: (P, K) float32 joint confidences.
        """
        people = self.decode_people(outputs)
        return people.keypoints, people.keypoint_scores

    def decode_people(self, outputs: Dict[str, np.ndarray]) -> BottomUpPeople:
        """Like :meth:`decode`, plus the (P,) person scores (see :class:`BottomUpPeople`).

        Joints a person lacks (score 0) get the keypoint (0, 0).
        """
        heatmaps, tags = _check_outputs(outputs)
        candidates = top_peaks(heatmaps, tags, self.max_num_people, self.nms_kernel)
        members, tag_means = group_by_tags(candidates, self.detection_threshold,
                                           self.tag_threshold, self.max_num_people)
        found = members >= 0
        joints = np.arange(heatmaps.shape[0])
        picked = np.where(found, members, 0)
        yx = candidates.yx[joints, picked]
        joint_scores = np.where(found, candidates.heats[joints, picked], 0.0)
        scores = joint_scores.mean(axis=1)
        if self.recover_missing:
            recover_missing(heatmaps, tags, tag_means, yx, joint_scores, found)
        position = yx.astype(np.float64)
        if self.use_refine:
            position += quarter_offsets(heatmaps, yx)
        keypoints = np.where(found[..., None], (position[..., ::-1] + 0.5) * self.decode_stride,
                             0.0)
        order = np.argsort(-scores, kind='stable')[:self.max_num_people]
        return BottomUpPeople(keypoints[order].astype(np.float32),
                              joint_scores[order].astype(np.float32),
                              scores[order].astype(np.float32))

    # ------------------------------------------------------ flip, scales, image

    def merge_flip(self, plain: Dict[str, np.ndarray], mirrored: Dict[str, np.ndarray],
                   flip_pairs: Sequence[Sequence[int]]) -> Dict[str, np.ndarray]:
        """Flip test: combine the outputs of an image and of its mirror, mirrored back.

        Mirroring back reverses W and swaps the ``flip_pairs`` channels; no shift is needed
        (see the module docstring). Heatmaps are averaged, tags stacked as ``[tag, tag_flip]``.

        Args:
            plain: ``heatmaps`` (1, K, H, W) and ``tags`` (1, K, H, W[, 1]) of the image.
            mirrored: the same for the horizontally mirrored image.
            flip_pairs: [left, right] joint pairs; may be empty.

        Returns:
            ``heatmaps`` (1, K, H, W) float32 and ``tags`` (1, K, H, W, 2) float32.
        """
        heatmaps, tags = _check_outputs(plain)
        heatmaps_m, tags_m = _check_outputs(mirrored)
        if tags.shape[-1] != 1 or tags_m.shape != tags.shape:
            raise ValueError(f'merge_flip needs one tag per joint and equal shapes, got tags '
                             f'{list(tags.shape)} and {list(tags_m.shape)}')
        perm = flip_permutation(flip_pairs, heatmaps.shape[0])
        back_heatmaps = heatmaps_m[perm, :, ::-1]
        back_tags = tags_m[perm, :, ::-1]
        return {'heatmaps': ((heatmaps + back_heatmaps) * 0.5)[None].astype(np.float32),
                'tags': np.concatenate([tags, back_tags], axis=-1)[None].astype(np.float32)}

    @staticmethod
    def merge_scales(outputs: Sequence[Dict[str, np.ndarray]],
                     size: Optional[Sequence[int]] = None) -> Dict[str, np.ndarray]:
        """Multi-scale test: resize the outputs of several input scales to one size and merge.

        Every entry must cover the same image region (the same input resized by a factor).
        Heatmaps are resized bilinearly and averaged; tags are resized and concatenated along
        T, so grouping compares all of them.

        Args:
            outputs: S entries of ``heatmaps`` (1, K, h_s, w_s) and ``tags`` (1, K, h_s, w_s[, T]).
            size: (w, h) of the merged maps; default: those of the first entry.

        Returns:
            ``heatmaps`` (1, K, h, w) and ``tags`` (1, K, h, w, S * T), float32.
        """
        if not outputs:
            raise ValueError('merge_scales needs at least one set of outputs')
        checked = [_check_outputs(entry) for entry in outputs]
        if size is None:
            height, width = checked[0][0].shape[1:]
        else:
            width, height = int(size[0]), int(size[1])
        heatmaps = np.mean([_resize_maps(hm, width, height) for hm, _ in checked], axis=0)
        tags = np.concatenate([_resize_maps(tag, width, height) for _, tag in checked], axis=-1)
        return {'heatmaps': heatmaps[None].astype(np.float32),
                'tags': tags[None].astype(np.float32)}

    def decode_to_image(self, outputs: Dict[str, np.ndarray], *,
                        input_to_image: Optional[np.ndarray] = None,
                        center: Optional[Sequence[float]] = None,
                        scale_px: Optional[Sequence[float]] = None
                        ) -> Tuple[np.ndarray, np.ndarray]:
        """Decode one image and map the keypoints back to original image pixels.

        Give either ``input_to_image`` or the ``center`` / ``scale_px`` of the resize (the
        bottom-up ``EvalAffine`` warps the whole image with
        ``crop_matrix(center, scale_px, 0, input size)``; the input size is read from the maps).

        Args:
            outputs: as for :meth:`decode`.
            input_to_image: (2, 3) matrix from input pixels to image pixels.
            center: (2,) image point at the input centre, in image pixels.
            scale_px: (2,) image extent (w, h) in pixels that fills the input.

        Returns:
            keypoints: (P, K, 3) float32 (x, y, joint score) in image pixels.
            scores: (P,) float32 person scores.
        """
        heatmaps, _ = _check_outputs(outputs)
        if (input_to_image is None) == (center is None or scale_px is None):
            raise ValueError('decode_to_image needs either input_to_image or both center and '
                             'scale_px')
        if input_to_image is None:
            input_size = np.array(heatmaps.shape[:0:-1], np.float64) * self.decode_stride
            input_to_image = crop_matrix(center, scale_px, 0.0, input_size, inv=True)
        people = self.decode_people(outputs)
        keypoints = np.concatenate([affine_transform_points(people.keypoints, input_to_image),
                                    people.keypoint_scores[..., None]], axis=-1)
        return keypoints.astype(np.float32), people.scores


def _strides(strides: Sequence[int]) -> List[int]:
    values = [int(s) for s in strides]
    if len(values) != 2 or min(values) < 1 or any(v != s for v, s in zip(values, strides)):
        raise ValueError(f'AssociativeEmbeddingCodec.heatmap_strides must be two positive '
                         f'integers [s0, s1], got {strides!r}')
    return values


def _input_size(size: Sequence[int], strides: Sequence[int]) -> np.ndarray:
    arr = np.asarray(size, dtype=np.float64)
    if arr.shape != (2,) or np.any(arr <= 0):
        raise ValueError(f'input_size must be [w, h] with positive values, got {size!r}')
    if any(value % stride for value in arr for stride in strides):
        raise ValueError(f'input_size {list(size)} must be divisible by every heatmap stride '
                         f'{list(strides)}')
    return arr


def _people(keypoints: np.ndarray, visible: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) float64 joints and (N, K) visibility of the people of an image."""
    joints = np.asarray(keypoints, dtype=np.float64)
    vis = np.asarray(visible, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] < 2:
        raise ValueError(f'keypoints must have shape (N, K, D) with D >= 2, got {joints.shape}')
    if vis.shape != joints.shape[:2]:
        raise ValueError(f'keypoints_visible must have shape (N, K) = {joints.shape[:2]}, '
                         f'got {vis.shape}')
    return joints[..., :2], vis


def _check_outputs(outputs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """(K, H, W) heatmaps and (K, H, W, T) tags of a batch-of-one output dict."""
    if not isinstance(outputs, dict) or not {'heatmaps', 'tags'} <= set(outputs):
        raise ValueError('outputs must be a dict with heatmaps (1, K, H, W) and tags '
                         '(1, K, H, W, T)')
    heatmaps = np.asarray(outputs['heatmaps'], dtype=np.float32)
    tags = np.asarray(outputs['tags'], dtype=np.float32)
    if tags.ndim == 4:
        tags = tags[..., None]
    if heatmaps.ndim != 4 or heatmaps.shape[0] != 1 or tags.shape[:4] != heatmaps.shape:
        raise ValueError(f'expected heatmaps (1, K, H, W) and tags (1, K, H, W, T) of one image, '
                         f'got {list(heatmaps.shape)} and {list(tags.shape)}')
    return heatmaps[0], tags[0]


def _resize_maps(maps: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinearly resize float32 (K, h, w[, T]) maps to (K, height, width[, T])."""
    if maps.shape[1:3] == (height, width):
        return maps
    return np.stack([cv2.resize(channel, (width, height), interpolation=cv2.INTER_LINEAR)
                     .reshape((height, width) + maps.shape[3:]) for channel in maps])
