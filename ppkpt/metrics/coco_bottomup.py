"""COCO keypoint AP of bottom-up predictions (the people of whole images), for any K.

The evaluation is :func:`~ppkpt.metrics.coco_keypoints.evaluate_keypoints`, the one
pycocotools path the top-down metric uses, with the config's OKS sigmas. Bottom-up people are
scored by the codec (mean joint score) and written as they come: no box rescoring, no OKS-NMS
(the grouping already gives one person per tag cluster), as PaddleDetection's bottom-up
``COCOMetric`` does.

Dimension names: N images of a batch, P people of one image, K joints.
"""
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ppkpt.core.workspace import register, serializable
from ppkpt.metrics.coco_keypoints import COCOKeypointEvalBase
from ppkpt.metrics.keypoint_results import to_numpy

__all__ = ['KeyPointBottomUpCOCOEval', 'COCO']

logger = logging.getLogger(__name__)


@register
@serializable
class KeyPointBottomUpCOCOEval(COCOKeypointEvalBase):
    """Collect the people of every image and compute the 10 COCO keypoint statistics.

    ``accumulate`` writes ``{output_eval}/keypoints_results.json`` (one entry per person:
    ``image_id``, ``category_id``, flat ``keypoints``, ``score``) and evaluates it with
    pycocotools and the config's sigmas.

    Args:
        anno_file: COCO keypoint json with the ground truth.
        num_samples: number of images the eval set yields (a mismatch is logged).
        num_joints: K.
        output_eval: folder for ``keypoints_results.json``.
        iou_type: pycocotools iou type (``keypoints``).
        save_prediction_only: only write the results file; skip the evaluation.
        sigmas: K OKS sigmas (the config's ``sigmas``); required.
    """

    __category__ = 'metric'
    __shared__ = ['num_joints', 'sigmas']

    def __init__(self, anno_file: str, num_samples: int, num_joints: int, output_eval: str,
                 iou_type: str = 'keypoints', save_prediction_only: bool = False,
                 sigmas: Optional[List[float]] = None) -> None:
        super().__init__(anno_file, num_samples, num_joints, output_eval, sigmas, iou_type,
                         save_prediction_only)

    def reset(self) -> None:
        """Forget collected people, scores and results."""
        super().reset()
        self._scores: List[np.ndarray] = []
        self._images = 0

    def update(self, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """Collect the people of a batch of N images.

        Args:
            inputs: batch with ``im_id`` [N] (or [N, 1]).
            outputs: ``keypoint``: N arrays (P_i, K, 3) (x, y, joint score) in image pixels,
                and ``score``: N arrays (P_i,) person scores (what ``HigherHRNet`` returns
                at evaluation).
        """
        im_ids = to_numpy(inputs['im_id']).reshape(-1).astype(np.int64)
        for im_id, (kpts, scores) in zip(im_ids, _people_per_image(outputs, len(im_ids))):
            self._keypoints.append(self._check_keypoints(kpts))
            self._scores.append(scores)
            self._im_ids.append(np.full(len(kpts), im_id, dtype=np.int64))
        self._images += len(im_ids)

    def _results(self, category_id: int) -> List[Dict[str, Any]]:
        """One COCO results entry per collected person."""
        kpts, im_ids = self._collected(samples=self._images)
        scores = np.concatenate(self._scores)
        return [{'image_id': int(im_id), 'category_id': category_id,
                 'keypoints': person.reshape(-1).tolist(), 'score': float(score)}
                for person, score, im_id in zip(kpts, scores, im_ids)]


@register
@serializable
class COCO(KeyPointBottomUpCOCOEval):
    """PaddleDetection's spelling of the bottom-up keypoint metric: ``metric: COCO`` with the
    top-level ``IouType: keypoints`` (any other ``IouType`` is rejected; box mAP is
    ``COCOBoxEval``). Same arguments and results as :class:`KeyPointBottomUpCOCOEval`."""

    __shared__ = {'num_joints': 'num_joints', 'sigmas': 'sigmas', 'iou_type': 'IouType'}


def _people_per_image(outputs: Mapping[str, Any], num_images: int
                      ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(keypoints (P, K, 3), scores (P,)) of each of ``num_images`` images.

    Raises:
        ValueError: when the outputs do not hold one entry per image, or a person count
            differs between keypoints and scores.
    """
    keypoints: Sequence[Any] = outputs['keypoint']
    scores: Sequence[Any] = outputs['score']
    if len(keypoints) != num_images or len(scores) != num_images:
        raise ValueError(f'KeyPointBottomUpCOCOEval: expected keypoint and score lists of '
                         f'{num_images} images, got {len(keypoints)} and {len(scores)}')
    people = []
    for index, (kpts, score) in enumerate(zip(keypoints, scores)):
        kpts = to_numpy(kpts).astype(np.float64)
        score = to_numpy(score).astype(np.float64).reshape(-1)
        if len(kpts) != len(score):
            raise ValueError(f'KeyPointBottomUpCOCOEval: image {index} has {len(kpts)} people '
                             f'but {len(score)} scores')
        people.append((kpts, score))
    return people
