"""Keypoint metrics: COCO keypoint AP, MPII PCKh and OKS helpers."""
from ppkpt.metrics.coco_keypoints import KeyPointTopDownCOCOEval
from ppkpt.metrics.mpii_pckh import KeyPointTopDownMPIIEval
from ppkpt.metrics.oks import compute_oks, oks_nms

__all__ = ['KeyPointTopDownCOCOEval', 'KeyPointTopDownMPIIEval', 'compute_oks', 'oks_nms']
