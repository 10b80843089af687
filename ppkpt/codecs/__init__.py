"""Target encoders and prediction decoders (numpy and cv2 only, usable without paddle)."""
from ppkpt.codecs.heatmap import TARGET_TYPES, HeatmapCodec, flip_back, get_max_preds

__all__ = ['HeatmapCodec', 'TARGET_TYPES', 'flip_back', 'get_max_preds']
