"""Keypoint metrics: COCO keypoint AP (top-down and bottom-up), MPII PCKh and OKS helpers."""
from ppkpt.metrics.coco_bottomup import KeyPointBottomUpCOCOEval
from ppkpt.metrics.coco_keypoints import KeyPointTopDownCOCOEval
from ppkpt.metrics.mpii_pckh import KeyPointTopDownMPIIEval
from ppkpt.metrics.oks import compute_oks, oks_nms

__all__ = ['KeyPointBottomUpCOCOEval', 'KeyPointTopDownCOCOEval', 'KeyPointTopDownMPIIEval',
           'compute_oks', 'oks_nms']
