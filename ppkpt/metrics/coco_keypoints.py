"""COCO keypoint AP (pycocotools ``keypoints``) for any K: the one COCOeval-with-sigmas path.

:class:`COCOKeypointEvalBase` owns what every COCO keypoint metric shares (the ground truth,
the results file, pycocotools' evaluation with the config's OKS sigmas, the table);
:class:`KeyPointTopDownCOCOEval` adds the top-down rescoring and OKS-NMS, and
:class:`~ppkpt.metrics.coco_bottomup.KeyPointBottomUpCOCOEval` the per-image people.
"""
import contextlib
import copy
import io
import json
import logging
import os
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ppkpt.core.workspace import register, serializable
from ppkpt.data.coco import annotation_box_xywh
from ppkpt.metadata import check_sigmas
from ppkpt.metrics.keypoint_results import KeypointResults, to_numpy
from ppkpt.metrics.oks import oks_nms

__all__ = ['COCOKeypointEvalBase', 'KeyPointTopDownCOCOEval', 'KEYPOINT_STAT_NAMES',
           'evaluate_keypoints', 'load_keypoint_gt', 'to_numpy', 'markdown_table']

logger = logging.getLogger(__name__)

KEYPOINT_STAT_NAMES = ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)',
                       'AR', 'AR .5', 'AR .75', 'AR (M)', 'AR (L)']


def markdown_table(header: List[str], rows: List[List[float]], digits: int = 3) -> str:
    """A markdown table with ``header`` and rows of numbers."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        lines.append('| ' + ' | '.join(f'{v:.{digits}f}' for v in row) + ' |')
    return '\n'.join(lines)


def _fill_annotation(index: int, ann: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of a keypoint annotation with ``bbox``, ``area``, ``iscrowd``, ``num_keypoints``
    and ``id`` filled in when missing (``area`` from the box, ``bbox`` from the keypoints)."""
    filled = copy.copy(ann)
    box = annotation_box_xywh(ann)
    if 'bbox' not in filled and box is not None:
        filled['bbox'] = box
    if 'area' not in filled:
        filled['area'] = box[2] * box[3] if box is not None else 0.0
    filled.setdefault('iscrowd', 0)
    filled.setdefault('id', index + 1)
    if 'num_keypoints' not in filled:
        visible = np.asarray(ann.get('keypoints', []), dtype=np.float64).reshape(-1, 3)[:, 2]
        filled['num_keypoints'] = int((visible > 0).sum())
    return filled


def load_keypoint_gt(anno_file: str) -> COCO:
    """Load a COCO keypoint json as pycocotools ground truth, in memory.

    Annotations missing ``bbox`` / ``area`` / ``iscrowd`` / ``num_keypoints`` (e.g. exports that
    only store keypoints) get them filled in; the file itself is never modified.

    Raises:
        FileNotFoundError / KeyError: naming ``anno_file``.
    """
    if not os.path.isfile(anno_file):
        raise FileNotFoundError(f'COCO keypoint metric: annotation file not found: '
                                f'{anno_file}')
    with open(anno_file, encoding='utf-8') as f:
        data = json.load(f)
    for key in ('images', 'annotations', 'categories'):
        if key not in data:
            raise KeyError(f'COCO keypoint metric: {anno_file} has no `{key}` list')
    data['annotations'] = [_fill_annotation(i, ann) for i, ann in enumerate(data['annotations'])]
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _keypoint_category(coco: COCO) -> int:
    """The category id predictions are reported under: 1 if present, else the first category
    that declares keypoints, else the first category."""
    cats = coco.dataset['categories']
    ids = [int(c['id']) for c in cats]
    if 1 in ids:
        return 1
    with_kpts = [int(c['id']) for c in cats if c.get('keypoints')]
    return (with_kpts or ids)[0]


def evaluate_keypoints(coco_gt: COCO, results: List[Dict[str, Any]], sigmas: np.ndarray,
                       iou_type: str = 'keypoints') -> List[float]:
    """The 10 COCO keypoint statistics of ``results`` with these OKS sigmas.

    Args:
        coco_gt: the ground truth (:func:`load_keypoint_gt`).
        results: COCO results entries (``image_id``, ``category_id``, flat ``keypoints`` of
            K (x, y, score) triplets, ``score``).
        sigmas: (K,) OKS sigmas; pycocotools' own are COCO-17's, so they are always replaced.
        iou_type: pycocotools iou type (``keypoints``).

    Returns:
        [AP, AP .5, AP .75, AP (M), AP (L), AR, AR .5, AR .75, AR (M), AR (L)]; zeros (and a
        warning) when ``results`` is empty.
    """
    if not results:
        logger.warning('COCO keypoint metric: no predictions to evaluate')
        return [0.0] * len(KEYPOINT_STAT_NAMES)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
        coco_eval.params.useSegm = None
        coco_eval.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    logger.debug('pycocotools summary:\n%s', buffer.getvalue().rstrip())
    return [float(v) for v in coco_eval.stats[:len(KEYPOINT_STAT_NAMES)]]


class COCOKeypointEvalBase(KeypointResults, metaclass=ABCMeta):
    """What the COCO keypoint metrics share: checked sigmas, the ground truth, the results
    file ``{output_eval}/keypoints_results.json``, :func:`evaluate_keypoints` and the table.

    Subclasses collect predictions in ``update`` and turn them into COCO results entries in
    :meth:`_results`.

    Args:
        anno_file: COCO keypoint json with the ground truth.
        num_samples: number of samples (instances or images) the eval set yields; a
            mismatch is logged.
        num_joints: K.
        output_eval: folder for ``keypoints_results.json``.
        sigmas: K OKS sigmas (the config's ``sigmas``); required.
        iou_type: pycocotools iou type; only ``keypoints``.
        save_prediction_only: only write the results file; skip the evaluation.
    """

    def __init__(self, anno_file: str, num_samples: int, num_joints: int, output_eval: str,
                 sigmas: Optional[List[float]], iou_type: str = 'keypoints',
                 save_prediction_only: bool = False) -> None:
        name = type(self).__name__
        if sigmas is None:
            raise ValueError(f'{name} needs {num_joints} OKS sigmas: set `sigmas` or a '
                             f'`keypoint_preset` that has them in the config')
        if iou_type != 'keypoints':
            raise ValueError(f"{name}: iou_type must be 'keypoints', got {iou_type!r} (box mAP "
                             f"is COCOBoxEval)")
        self.anno_file = anno_file
        self.num_samples = num_samples
        self.num_joints = num_joints
        self.output_eval = output_eval
        self.sigmas = check_sigmas(sigmas, num_joints)
        self.iou_type = iou_type
        self.save_prediction_only = save_prediction_only
        self.reset()

    @abstractmethod
    def _results(self, category_id: int) -> List[Dict[str, Any]]:
        """The collected predictions as COCO results entries under ``category_id``."""

    def accumulate(self) -> None:
        """Write the results file and (unless only saving) evaluate it."""
        coco_gt = load_keypoint_gt(self.anno_file)
        results = self._results(_keypoint_category(coco_gt))
        self._write(results)
        if self.save_prediction_only:
            return
        self.eval_results = {'keypoint': evaluate_keypoints(coco_gt, results, self.sigmas,
                                                            self.iou_type)}

    def log(self) -> None:
        """Print the statistics as a markdown table."""
        if 'keypoint' not in self.eval_results:
            logger.info('Predictions saved to %s; no evaluation was run', self.res_file)
            return
        print(markdown_table(KEYPOINT_STAT_NAMES, [self.eval_results['keypoint']]))

    def get_results(self) -> Dict[str, List[float]]:
        """``{'keypoint': [AP, AP .5, AP .75, AP (M), AP (L), AR, AR .5, AR .75, AR (M), AR (L)]}``
        (empty with ``save_prediction_only``)."""
        return self.eval_results


@register
@serializable
class KeyPointTopDownCOCOEval(COCOKeypointEvalBase):
    """Collect top-down predictions and compute the 10 COCO keypoint statistics.

    ``accumulate`` rescores each instance by ``box score x mean keypoint score`` (over joints with
    score above ``in_vis_thre``; 0 when none), runs OKS-NMS per image at ``oks_thre`` with this
    keypoint set's sigmas, writes ``{output_eval}/keypoints_results.json`` and evaluates it with
    pycocotools using the same sigmas, so any K works.

    Args:
        anno_file: COCO keypoint json with the ground truth.
        num_samples: number of instances the eval set yields (a mismatch is logged).
        num_joints: K.
        output_eval: folder for ``keypoints_results.json``.
        iou_type: pycocotools iou type.
        in_vis_thre: joint score threshold for rescoring.
        oks_thre: OKS-NMS threshold.
        save_prediction_only: only write the results file; skip the evaluation.
        sigmas: K OKS sigmas (the config's ``sigmas``, filled from its keypoint preset or the
            generic default); required.
        pixel_std: pixels per ``scale`` unit (for the instance areas used by OKS-NMS).
    """

    __category__ = 'metric'
    __shared__ = ['num_joints', 'pixel_std', 'sigmas']

    def __init__(self, anno_file: str, num_samples: int, num_joints: int, output_eval: str,
                 iou_type: str = 'keypoints', in_vis_thre: float = 0.2, oks_thre: float = 0.9,
                 save_prediction_only: bool = False, sigmas: Optional[List[float]] = None,
                 pixel_std: int = 200) -> None:
        self.in_vis_thre = in_vis_thre
        self.oks_thre = oks_thre
        self.pixel_std = pixel_std
        super().__init__(anno_file, num_samples, num_joints, output_eval, sigmas, iou_type,
                         save_prediction_only)

    def reset(self) -> None:
        """Forget collected predictions, boxes and results."""
        super().reset()
        self._boxes: List[np.ndarray] = []

    def update(self, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """Collect one batch.

        Args:
            inputs: batch with ``im_id`` [N], ``center`` [N, 2], ``scale`` [N, 2] and ``score``
                [N] (box score; ``outputs['score']`` is used when absent).
            outputs: ``keypoint`` (N, K, 3) (x, y, score) in image pixels, ``score`` (N,).
        """
        kpts, im_ids = self._batch_keypoints(inputs, outputs)
        count = len(kpts)
        score = to_numpy(inputs['score'] if 'score' in inputs else outputs['score'])
        center = to_numpy(inputs['center']).reshape(count, 2)
        scale = to_numpy(inputs['scale']).reshape(count, 2)
        area = np.prod(scale * self.pixel_std, axis=1)
        self._keypoints.append(kpts)
        self._boxes.append(np.column_stack([center, scale, area, score.reshape(count)]))
        self._im_ids.append(im_ids)

    def _rescore(self, kpts: np.ndarray, box_score: float) -> float:
        conf = kpts[:, 2]
        passed = conf[conf > self.in_vis_thre]
        return float(box_score * (passed.mean() if passed.size else 0.0))

    def _instances_by_image(self, kpts: np.ndarray, im_ids: np.ndarray
                            ) -> Dict[int, List[Dict[str, Any]]]:
        boxes = np.concatenate(self._boxes)
        by_image: Dict[int, List[Dict[str, Any]]] = {}
        for k, box, im_id in zip(kpts, boxes, im_ids):
            by_image.setdefault(int(im_id), []).append({
                'keypoints': k, 'center': box[0:2], 'scale': box[2:4], 'area': box[4],
                'score': self._rescore(k, box[5])})
        return by_image

    def _results(self, category_id: int) -> List[Dict[str, Any]]:
        """COCO results of the collected instances after rescoring and per-image OKS-NMS."""
        kpts, im_ids = self._collected()
        results = []
        for im_id, instances in self._instances_by_image(kpts, im_ids).items():
            keep = oks_nms(instances, self.oks_thre, self.sigmas)
            for i in keep:
                inst = instances[i]
                results.append({'image_id': im_id, 'category_id': category_id,
                                'keypoints': inst['keypoints'].reshape(-1).tolist(),
                                'score': inst['score'], 'center': inst['center'].tolist(),
                                'scale': inst['scale'].tolist()})
        return results
