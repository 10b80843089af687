"""COCO box mAP (pycocotools ``bbox``) for the detector."""
import contextlib
import copy
import io
import json
import logging
import os
from typing import Any, Dict, List

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ppkpt.core.workspace import register, serializable
from ppkpt.data.coco import annotation_box_xywh
from ppkpt.metrics.coco_keypoints import markdown_table
from ppkpt.metrics.keypoint_results import to_numpy

__all__ = ['COCOBoxEval', 'BBOX_STAT_NAMES', 'load_coco_boxes']

logger = logging.getLogger(__name__)

BBOX_STAT_NAMES = ['AP', 'AP .5', 'AP .75', 'AP (S)', 'AP (M)', 'AP (L)',
                   'AR 1', 'AR 10', 'AR', 'AR (S)', 'AR (M)', 'AR (L)']


def load_coco_boxes(anno_file: str) -> COCO:
    """Load a COCO json as ground truth for box evaluation.

    Annotations without a usable ``bbox`` get one from their visible keypoints (or are
    dropped when they have none); missing ``area`` (box area) and ``iscrowd`` (0) are filled.
    The file itself is not changed.

    Raises:
        FileNotFoundError: naming ``anno_file`` when it does not exist.
    """
    if not os.path.isfile(anno_file):
        raise FileNotFoundError(f'COCOBoxEval: annotation file not found: {anno_file}')
    with open(anno_file, encoding='utf-8') as f:
        data = json.load(f)
    annotations = []
    for i, ann in enumerate(data.get('annotations', [])):
        box = annotation_box_xywh(ann)
        if box is None:
            continue
        filled = copy.copy(ann)
        filled['bbox'] = box
        filled.setdefault('area', box[2] * box[3])
        filled.setdefault('iscrowd', 0)
        filled.setdefault('id', i + 1)
        annotations.append(filled)
    data['annotations'] = annotations
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


@register
@serializable
class COCOBoxEval:
    """Collect detector outputs and compute the 12 COCO box statistics.

    Args:
        anno_file: COCO json with the ground truth (keypoint or detection json).
        output_eval: folder for ``bbox.json`` (the predictions in COCO results format).
        save_prediction_only: only write ``bbox.json``; skip the evaluation.
    """

    __category__ = 'metric'

    def __init__(self, anno_file: str, output_eval: str = 'output',
                 save_prediction_only: bool = False) -> None:
        self.anno_file = anno_file
        self.output_eval = output_eval
        self.save_prediction_only = save_prediction_only
        self._coco = None
        self.results: List[Dict[str, Any]] = []
        self.stats: List[float] = [0.0] * len(BBOX_STAT_NAMES)

    @property
    def coco(self) -> COCO:
        """The ground truth, loaded on first use."""
        if self._coco is None:
            self._coco = load_coco_boxes(self.anno_file)
        return self._coco

    def reset(self) -> None:
        """Forget collected predictions and statistics."""
        self.results = []
        self.stats = [0.0] * len(BBOX_STAT_NAMES)

    def update(self, inputs: Dict[str, Any], outputs: Dict[str, Any]) -> None:
        """Collect one batch.

        Args:
            inputs: batch with ``im_id`` (N,) (or (N, 1)) COCO image ids.
            outputs: ``bbox`` (M, 6) rows (class_id, score, x1, y1, x2, y2) in original pixels
                and ``bbox_num`` (N,) rows per image, images in batch order.
        """
        for key, source in (('im_id', inputs), ('bbox', outputs), ('bbox_num', outputs)):
            if key not in source:
                raise KeyError(f'COCOBoxEval.update: missing `{key}`')
        im_ids = to_numpy(inputs['im_id']).reshape(-1)
        bbox = to_numpy(outputs['bbox']).reshape(-1, 6)
        bbox_num = to_numpy(outputs['bbox_num']).reshape(-1)
        if len(bbox_num) != len(im_ids) or bbox_num.sum() != len(bbox):
            raise ValueError(f'COCOBoxEval.update: {len(im_ids)} images, bbox_num={bbox_num} '
                             f'but {len(bbox)} boxes')
        cat_ids = sorted(self.coco.getCatIds())
        start = 0
        for im_id, count in zip(im_ids, bbox_num):
            for row in bbox[start:start + count]:
                self.results.append(self._to_result(int(im_id), row, cat_ids))
            start += count

    @staticmethod
    def _to_result(im_id: int, row: np.ndarray, cat_ids: List[int]) -> Dict[str, Any]:
        cls = int(row[0])
        if not 0 <= cls < len(cat_ids):
            raise ValueError(f'COCOBoxEval: class index {cls} for image {im_id} is outside '
                             f'[0, {len(cat_ids)})')
        x1, y1, x2, y2 = (float(v) for v in row[2:6])
        return {'image_id': im_id, 'category_id': cat_ids[cls],
                'bbox': [x1, y1, x2 - x1, y2 - y1], 'score': float(row[1])}

    def _write_results(self) -> str:
        os.makedirs(self.output_eval, exist_ok=True)
        path = os.path.join(self.output_eval, 'bbox.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(self.results, f)
        return path

    def accumulate(self) -> None:
        """Write ``bbox.json`` and run the pycocotools box evaluation."""
        path = self._write_results()
        logger.info('COCOBoxEval: %d boxes written to %s', len(self.results), path)
        if self.save_prediction_only:
            return
        if not self.results:
            self.stats = [0.0] * len(BBOX_STAT_NAMES)
            return
        with contextlib.redirect_stdout(io.StringIO()):
            detections = self.coco.loadRes(copy.deepcopy(self.results))
            evaluator = COCOeval(self.coco, detections, 'bbox')
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        self.stats = [float(v) for v in evaluator.stats]

    def table(self) -> str:
        """The statistics as a markdown table."""
        return markdown_table(list(BBOX_STAT_NAMES), [self.stats])

    def log(self) -> None:
        """Log the markdown table of the statistics."""
        logger.info('COCO box evaluation of %s:\n%s', self.anno_file, self.table())

    def get_results(self) -> Dict[str, List[float]]:
        """``{'bbox': [12 COCO statistics]}`` (AP first)."""
        return {'bbox': list(self.stats)}
