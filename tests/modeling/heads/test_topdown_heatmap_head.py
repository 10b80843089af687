"""Flip-test bias of the full path: codec targets -> head.merge_flip -> codec decode.

The ground truth of a crop and of its mirror image are encoded with the codec (what a perfect
network would predict), merged by the head's flip test and decoded; the mean signed x error in
input pixels is the bias the flip alignment leaves.
"""
import numpy as np
import pytest

from ppkpt.codecs.heatmap import HeatmapCodec
from ppkpt.geometry import flip_permutation
from ppkpt.metadata import COCO17_FLIP_PAIRS
from ppkpt.modeling.heads.topdown_heatmap_head import TopDownHeatmapHead
from ppkpt.modeling.losses.keypoint_mse import KeyPointMSELoss

INPUT, HEATMAP = [192, 256], [48, 64]


def flip_test_error(codec: HeatmapCodec, samples: int = 200, seed: int = 0) -> np.ndarray:
    """(samples, 17, 2) decoded-minus-true joints in input pixels after flip test."""
    head = TopDownHeatmapHead(1, 17, codec, KeyPointMSELoss(), COCO17_FLIP_PAIRS)
    perm = flip_permutation(COCO17_FLIP_PAIRS, 17)
    rng = np.random.default_rng(seed)
    joints = rng.uniform([24, 24], [168, 232], size=(samples, 17, 2))
    mirrored = joints[:, perm].copy()
    mirrored[..., 0] = INPUT[0] - 1 - mirrored[..., 0]
    visible = np.ones(17)
    plain = np.stack([codec.encode(j, visible)['target'] for j in joints])
    flipped = np.stack([codec.encode(j, visible)['target'] for j in mirrored])
    merged = head.merge_flip(plain, flipped)
    keypoints, _ = codec.decode(merged)
    return keypoints - joints


def test_udp_flip_test_recovers_the_joints():
    error = flip_test_error(HeatmapCodec(INPUT, HEATMAP, target_type='udp', use_dark=True))
    assert np.abs(error).mean() < 0.05
    assert abs(error[..., 0].mean()) < 0.05


@pytest.mark.parametrize('target_type, use_dark, expected', [
    ('gaussian', False, 0.25),   # MSRA targets, quarter-offset decoding
    ('dark', True, 0.5),         # DARK targets and decoding
])
def test_pixel_alignment_keeps_paddledetections_bias(target_type, use_dark, expected):
    codec = HeatmapCodec(INPUT, HEATMAP, target_type=target_type, use_dark=use_dark)
    assert codec.flip_alignment == 'pixel' and codec.flip_shift == 1.0
    bias = flip_test_error(codec)[..., 0].mean()
    assert bias == pytest.approx(expected, abs=0.05)


def test_exact_alignment_removes_the_bias():
    codec = HeatmapCodec(INPUT, HEATMAP, target_type='dark', use_dark=True,
                         flip_alignment='exact')
    assert codec.flip_shift == pytest.approx(0.75)
    error = flip_test_error(codec)
    assert abs(error[..., 0].mean()) < 0.05 and np.abs(error).mean() < 0.05


def test_no_alignment_is_off_by_the_flip_offset():
    codec = HeatmapCodec(INPUT, HEATMAP, target_type='dark', flip_alignment='none')
    # the mirrored-back map sits 1 - 1/4 heatmap px = 3 input px left; the average halves it
    assert flip_test_error(codec)[..., 0].mean() == pytest.approx(-1.5, abs=0.05)
