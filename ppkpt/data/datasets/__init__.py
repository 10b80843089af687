"""Datasets: each parses its annotations lazily, on first use."""
from ppkpt.data.datasets.base import KeypointTopDownBaseDataset
from ppkpt.data.datasets.keypoint_bottomup import (KeypointBottomUpCocoDataset,
                                                   KeypointBottomUpCrowdPoseDataset)
from ppkpt.data.datasets.keypoint_coco import KeypointTopDownCocoDataset
from ppkpt.data.datasets.keypoint_mpii import KeypointTopDownMPIIDataset

__all__ = ['KeypointTopDownBaseDataset', 'KeypointTopDownCocoDataset',
           'KeypointTopDownMPIIDataset', 'KeypointBottomUpCocoDataset',
           'KeypointBottomUpCrowdPoseDataset']
