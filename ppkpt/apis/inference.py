"""``init_model`` and ``inference_topdown``: the evaluation path, as plain functions.

Dimension names: N boxes, K joints.
"""
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import paddle

from ppkpt.core.workspace import build_ops, create, load_config
from ppkpt.data.transforms.common import Compose, Decode
from ppkpt.engine.weights import load_weight
from ppkpt.image_io import read_rgb

__all__ = ['init_model', 'inference_topdown']

BOX_FORMATS = ('xyxy', 'xywh')


def init_model(config: Union[str, Mapping[str, Any]], weights: Optional[str] = None
               ) -> paddle.nn.Layer:
    """Build the config's architecture, load ``weights`` strictly and switch to eval mode.

    Args:
        config: a config path (loaded with :func:`ppkpt.core.workspace.load_config`) or an
            already loaded config.
        weights: a ``.pdparams`` file; every key must match (PaddleDetection's names load).

    Returns:
        The model in eval mode; ``model.cfg`` holds its complete config.
    """
    cfg = load_config(config) if isinstance(config, str) else dict(config)
    model = create(cfg['architecture'], cfg)
    if weights:
        load_weight(model, weights)
    model.cfg = cfg
    model.eval()
    return model


def _test_pipeline(cfg: Mapping[str, Any]) -> Compose:
    """The TestReader ops without ``Decode``: box -> crop -> normalise -> CHW."""
    reader = cfg['TestReader']
    specs = list(reader.get('sample_transforms', [])) + list(reader.get('batch_transforms', []))
    ops = build_ops(specs, 'TestReader.transforms', cfg)
    return Compose([op for op in ops if not isinstance(op, Decode)])


def _boxes_xywh(boxes: Any, box_format: str) -> np.ndarray:
    if box_format not in BOX_FORMATS:
        raise ValueError(f'box_format must be one of {BOX_FORMATS}, got {box_format!r}')
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 4:
        raise ValueError(f'boxes must have shape (N, 4+), got {array.shape}')
    array = array[:, :4].copy()
    if box_format == 'xyxy':
        array[:, 2:] -= array[:, :2]
    return array


@paddle.no_grad()
def inference_topdown(model: paddle.nn.Layer, image: Union[str, np.ndarray],
                      boxes: Optional[Sequence[Sequence[float]]] = None,
                      box_format: str = 'xyxy') -> np.ndarray:
    """Keypoints of the people in ``boxes``, computed exactly as evaluation computes them.

    Each box is clipped to the image, padded to the model aspect and enlarged by the
    ``TopDownEvalAffine`` padding (1.25), as the eval datasets do with ground-truth boxes; then
    flip test (when the head has it on) and the codec's decoding.

    Args:
        model: from :func:`init_model`.
        image: an image path, or an (H, W, 3) uint8 RGB array.
        boxes: (N, 4+) person boxes in pixels; None uses the whole image as one box.
        box_format: ``'xyxy'`` (x1, y1, x2, y2) or ``'xywh'`` (COCO's x, y, w, h).

    Returns:
        (N, K, 3) float32 keypoints (x, y, score) in image pixels.
    """
    rgb = read_rgb(image) if isinstance(image, str) else np.asarray(image)
    pipeline = _test_pipeline(model.cfg)
    if boxes is None:
        records = [{'image': rgb}]
    else:
        records = [{'image': rgb, 'bbox': box} for box in _boxes_xywh(boxes, box_format)]
    if not records:
        return np.zeros((0, int(model.cfg['num_joints']), 3), np.float32)
    samples = [pipeline(record) for record in records]
    batch = _stack(samples)
    model.eval()
    return model.predict(paddle.to_tensor(batch['image']), batch['center'],
                         batch['scale'])['keypoint']


def _stack(samples: Sequence[Dict[str, Any]]) -> Dict[str, np.ndarray]:
    return {key: np.stack([np.asarray(s[key]) for s in samples]).astype(np.float32)
            for key in ('image', 'center', 'scale')}
