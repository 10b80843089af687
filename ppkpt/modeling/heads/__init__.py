"""Heads: the layers after the backbone that own the outputs, the loss and the decoding."""
from ppkpt.modeling.heads.centernet_head import CenterNetHead
from ppkpt.modeling.heads.hrhrnet_head import HrHRNetHead
from ppkpt.modeling.heads.topdown_heatmap_head import TopDownHeatmapHead

__all__ = ['CenterNetHead', 'HrHRNetHead', 'TopDownHeatmapHead']
