"""Codecs: target encoders and prediction decoders (numpy and cv2 only, usable without paddle).

See :mod:`ppkpt.codecs.base` for the contract every codec follows.
"""
from ppkpt.codecs.associative_embedding import AssociativeEmbeddingCodec
from ppkpt.codecs.base import CODECS, KeypointCodec, build_codec
from ppkpt.codecs.heatmap import (FLIP_ALIGNMENTS, TARGET_TYPES, HeatmapCodec, flip_back,
                                  get_max_preds)

__all__ = ['CODECS', 'KeypointCodec', 'build_codec', 'HeatmapCodec', 'AssociativeEmbeddingCodec',
           'TARGET_TYPES', 'FLIP_ALIGNMENTS', 'flip_back', 'get_max_preds']
