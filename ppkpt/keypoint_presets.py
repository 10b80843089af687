"""The named keypoint presets: names, flip pairs, upper-body ids, OKS sigmas and skeletons of
public keypoint sets (published values; 0-based joint indices). :mod:`ppkpt.metadata` reads them.

This module holds data only (standard library).
"""
from typing import Any, Dict

__all__ = ['PRESETS', 'PRESET_FIELDS', 'COCO17_NAMES', 'COCO17_FLIP_PAIRS', 'COCO17_SIGMAS']

COCO17_NAMES = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle']
COCO17_FLIP_PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
COCO17_UPPER_BODY = list(range(11))
COCO17_SIGMAS = [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
COCO17_SKELETON = [
    [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8],
    [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]]

MPII16_NAMES = [
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle', 'pelvis',
    'thorax', 'upper_neck', 'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
    'left_shoulder', 'left_elbow', 'left_wrist']
MPII16_FLIP_PAIRS = [[0, 5], [1, 4], [2, 3], [10, 15], [11, 14], [12, 13]]
MPII16_UPPER_BODY = list(range(7, 16))
MPII16_SKELETON = [
    [0, 1], [1, 2], [2, 6], [6, 3], [3, 4], [4, 5], [6, 7], [7, 8], [8, 9], [7, 12], [12, 11],
    [11, 10], [7, 13], [13, 14], [14, 15]]

CROWDPOSE14_NAMES = [
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle', 'head',
    'neck']
CROWDPOSE14_FLIP_PAIRS = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
CROWDPOSE14_UPPER_BODY = [0, 1, 2, 3, 4, 5, 12, 13]
CROWDPOSE14_SIGMAS = [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
                      0.089, 0.089, 0.079, 0.079]
CROWDPOSE14_SKELETON = [
    [10, 8], [8, 6], [11, 9], [9, 7], [6, 7], [0, 6], [1, 7], [0, 1], [0, 2], [1, 3], [2, 4],
    [3, 5], [12, 13], [1, 13], [0, 13]]
"""CrowdPose's own annotation files carry COCO's 17-joint skeleton in their category; these are
the 14-joint links (limbs, head-neck, shoulders-neck)."""

AIC14_NAMES = [
    'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder', 'left_elbow', 'left_wrist',
    'right_hip', 'right_knee', 'right_ankle', 'left_hip', 'left_knee', 'left_ankle', 'head_top',
    'neck']
AIC14_FLIP_PAIRS = [[0, 3], [1, 4], [2, 5], [6, 9], [7, 10], [8, 11]]
AIC14_UPPER_BODY = [0, 1, 2, 3, 4, 5, 12, 13]
AIC14_SIGMAS = [0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144,
                0.03909642, 0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081,
                0.01291456, 0.01236173]
"""AI Challenger's keypoint_eval.py deltas halved (delta = 2 x sigma)."""
AIC14_SKELETON = [
    [2, 1], [1, 0], [0, 13], [13, 3], [3, 4], [4, 5], [8, 7], [7, 6], [6, 9], [9, 10], [10, 11],
    [12, 13], [0, 6], [3, 9]]

HAND21_NAMES = ['wrist'] + [f'{finger}{i}' for finger in
                            ('thumb', 'forefinger', 'middle_finger', 'ring_finger', 'pinky_finger')
                            for i in range(1, 5)]
HAND21_SIGMAS = [0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024,
                 0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.020, 0.019, 0.022, 0.031]
"""COCO-WholeBody hand sigmas (the same for the left and the right hand)."""
HAND21_SKELETON = [[0 if i % 4 == 0 else i, i + 1] for i in range(20)]
"""Wrist to the base of each finger, then along the finger: [0, 1], [1, 2], ..., [0, 5], ...."""

AP10K17_NAMES = [
    'left_eye', 'right_eye', 'nose', 'neck', 'root_of_tail', 'left_shoulder', 'left_elbow',
    'left_front_paw', 'right_shoulder', 'right_elbow', 'right_front_paw', 'left_hip',
    'left_knee', 'left_back_paw', 'right_hip', 'right_knee', 'right_back_paw']
AP10K17_FLIP_PAIRS = [[0, 1], [5, 8], [6, 9], [7, 10], [11, 14], [12, 15], [13, 16]]
AP10K17_UPPER_BODY = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10]
"""Eyes, nose, neck and the front legs."""
AP10K17_SIGMAS = [0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                  0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
"""The sigmas AP-10K's benchmark code evaluates with (adapted from COCO's, index for index)."""
AP10K17_SKELETON = [
    [0, 1], [0, 2], [1, 2], [2, 3], [3, 4], [3, 5], [5, 6], [6, 7], [3, 8], [8, 9], [9, 10],
    [4, 11], [11, 12], [12, 13], [4, 14], [14, 15], [15, 16]]

PRESETS: Dict[str, Dict[str, Any]] = {
    'coco17': {'title': 'COCO-17', 'names': COCO17_NAMES, 'flip_pairs': COCO17_FLIP_PAIRS,
               'upper_body_ids': COCO17_UPPER_BODY, 'sigmas': COCO17_SIGMAS,
               'skeleton': COCO17_SKELETON},
    'mpii16': {'title': 'MPII-16', 'names': MPII16_NAMES, 'flip_pairs': MPII16_FLIP_PAIRS,
               'upper_body_ids': MPII16_UPPER_BODY, 'sigmas': None, 'skeleton': MPII16_SKELETON},
    'crowdpose14': {'title': 'CrowdPose-14', 'names': CROWDPOSE14_NAMES,
                    'flip_pairs': CROWDPOSE14_FLIP_PAIRS, 'upper_body_ids': CROWDPOSE14_UPPER_BODY,
                    'sigmas': CROWDPOSE14_SIGMAS, 'skeleton': CROWDPOSE14_SKELETON},
    'aic14': {'title': 'AI-Challenger-14', 'names': AIC14_NAMES, 'flip_pairs': AIC14_FLIP_PAIRS,
              'upper_body_ids': AIC14_UPPER_BODY, 'sigmas': AIC14_SIGMAS,
              'skeleton': AIC14_SKELETON},
    'hand21': {'title': 'Hand-21', 'names': HAND21_NAMES, 'flip_pairs': [], 'upper_body_ids': [],
               'sigmas': HAND21_SIGMAS, 'skeleton': HAND21_SKELETON},
    'ap10k17': {'title': 'AP-10K-17', 'names': AP10K17_NAMES, 'flip_pairs': AP10K17_FLIP_PAIRS,
                'upper_body_ids': AP10K17_UPPER_BODY, 'sigmas': AP10K17_SIGMAS,
                'skeleton': AP10K17_SKELETON},
}
"""Preset name (the ``keypoint_preset`` value) -> display title and the fields it fills. Its K is
``len(names)``; a ``sigmas`` of None means the dataset has no OKS sigmas."""
PRESET_FIELDS = ('names', 'flip_pairs', 'upper_body_ids', 'sigmas', 'skeleton')
