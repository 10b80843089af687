"""MPII PCKh for top-down predictions."""
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import scipy.io

from ppkpt.core.workspace import register, serializable
from ppkpt.data.mpii import load_mpii_entries, mpii_image_id, mpii_joints
from ppkpt.metrics.coco_keypoints import markdown_table
from ppkpt.metrics.keypoint_results import KeypointResults

__all__ = ['KeyPointTopDownMPIIEval', 'pckh', 'head_sizes_from_boxes', 'PCKH_PARTS',
           'MEAN_THRESHOLDS', 'PCKH_MEAN_KEY', 'MEAN_01_KEY', 'PPDET_01_KEY', 'PPDET_01_THRESHOLD']

logger = logging.getLogger(__name__)

HEAD_SIZE_FACTOR = 0.6
"""Head size = 0.6 x the diagonal of the head box (the MPII protocol)."""
DEFAULT_HEADBOX_MAT = 'mpii_gt_val.mat'
PELVIS, THORAX = 6, 7
PCKH_PARTS = {'Head': [9], 'Shoulder': [12, 13], 'Elbow': [11, 14], 'Wrist': [10, 15],
              'Hip': [2, 3], 'Knee': [1, 4], 'Ankle': [0, 5]}
"""Table column -> MPII joint indices averaged (at threshold 0.5) for it."""
PCKH_MEAN_KEY = 'PCKh@0.5'
MEAN_01_KEY = 'Mean@0.1'
PPDET_01_KEY = 'PCKh@0.11 (PaddleDetection "PCKh@0.1")'
PPDET_01_THRESHOLD = 0.11
"""The threshold behind PaddleDetection's (and HRNet's) printed ``PCKh@0.1``: ``pckAll[11]`` of
the 0, 0.01, ..., 0.5 sweep."""
MEAN_THRESHOLDS = {PCKH_MEAN_KEY: 0.5, MEAN_01_KEY: 0.1, PPDET_01_KEY: PPDET_01_THRESHOLD}
"""Result key -> threshold of the count-weighted mean over joints (pelvis and thorax masked)."""


def head_sizes_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """Head sizes from head boxes.

    Args:
        boxes: (N, 2, 2) head boxes [[x1, y1], [x2, y2]] in pixels.

    Returns:
        (N,) float64 head sizes: 0.6 x box diagonal.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1) * HEAD_SIZE_FACTOR


def pckh(preds: np.ndarray, gts: np.ndarray, visible: np.ndarray, head_sizes: np.ndarray,
         threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """Per-joint PCKh: the share of visible joints within ``threshold`` x head size.

    Args:
        preds: (N, K, 2) predicted joints in pixels.
        gts: (N, K, 2) ground-truth joints in the same pixel frame.
        visible: (N, K) bool, joints that count.
        head_sizes: (N,) head sizes in pixels.
        threshold: distance threshold as a fraction of the head size (a distance equal to it
            counts as correct).

    Returns:
        pck: (K,) percentages (0 for a joint that is never visible).
        counts: (K,) number of visible joints.
    """
    dist = np.linalg.norm(preds - gts, axis=2) / head_sizes[:, None]
    hits = ((dist <= threshold) & visible).sum(axis=0)
    counts = visible.sum(axis=0)
    pck = np.where(counts > 0, 100.0 * hits / np.maximum(counts, 1), 0.0)
    return pck, counts


def _mean_without_pelvis_thorax(pck: np.ndarray, counts: np.ndarray) -> float:
    """Mean PCKh weighted by joint counts, pelvis and thorax excluded."""
    weights = counts.astype(np.float64)
    weights[[PELVIS, THORAX]] = 0.0
    return float((pck * weights).sum() / max(weights.sum(), 1.0))


def _headbox_array(value: Any, index: int, source: str) -> np.ndarray:
    box = np.asarray(value, dtype=np.float64).reshape(-1)
    if box.size != 4:
        raise ValueError(f'{source} entry {index}: `headbox` must be [x1, y1, x2, y2] or '
                         f'[[x1, y1], [x2, y2]], got {value!r}')
    return box.reshape(2, 2)


@register
@serializable
class KeyPointTopDownMPIIEval(KeypointResults):
    """PCKh on MPII (16 joints) at 0.5, at exactly 0.1 and at PaddleDetection's 0.11.

    Head sizes come from ``headbox_file`` (a ``.mat`` in the ``mpii_gt_val.mat`` layout:
    ``headboxes_src`` (2, 2, N), ``jnt_missing`` (K, N), ``pos_gt_src`` (K, 2, N), 1-based),
    else from a ``headbox`` field on every json entry, else from ``mpii_gt_val.mat`` next to
    ``anno_file``. With a ``.mat`` the ground truth joints and visibility come from it, otherwise
    from the json. Predictions must arrive in dataset order (an unshuffled eval loader); their
    ``im_id`` sequence is checked against the json.

    Reported, in percent: ``PCKh@0.5``, ``Mean@0.1`` and ``PCKh@0.11 (PaddleDetection
    "PCKh@0.1")``, the count-weighted means over all joints except pelvis and thorax at thresholds
    0.5, exactly 0.1 and 0.11 (see :data:`MEAN_THRESHOLDS`), then Head, Shoulder, Elbow, Wrist,
    Hip, Knee, Ankle at 0.5. The 0.11 figure is the one PaddleDetection and HRNet print as
    ``PCKh@0.1`` (their ``pckAll[11]``); compare published ``PCKh@0.1`` numbers with it, not with
    ``Mean@0.1``. ``PCKh@0.5`` comes first, so it is the value that picks ``best_model``.

    Args:
        anno_file: MPII json of the eval set.
        num_samples: number of instances the eval set yields.
        num_joints: must be 16.
        output_eval: folder for ``keypoints_results.json``.
        save_prediction_only: only write the predictions; skip the evaluation.
        headbox_file: head-box ``.mat``; an existing path is used as is, otherwise it is taken
            relative to the folder of ``anno_file``.
    """

    __category__ = 'metric'
    __shared__ = ['num_joints']

    def __init__(self, anno_file: str, num_samples: int, num_joints: int, output_eval: str,
                 save_prediction_only: bool = False, headbox_file: Optional[str] = None) -> None:
        if num_joints != 16:
            raise ValueError(f'KeyPointTopDownMPIIEval needs the 16 MPII joints, got '
                             f'num_joints={num_joints}')
        self.anno_file = anno_file
        self.num_samples = num_samples
        self.num_joints = num_joints
        self.output_eval = output_eval
        self.save_prediction_only = save_prediction_only
        self.headbox_file = headbox_file
        self.reset()

    def update(self, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """Collect one batch.

        Args:
            inputs: batch with ``im_id`` [N].
            outputs: ``keypoint`` (N, 16, 3) (x, y, score) in 0-based image pixels.
        """
        kpts, im_ids = self._batch_keypoints(inputs, outputs)
        self._keypoints.append(kpts)
        self._im_ids.append(im_ids)

    # ------------------------------------------------------------------ ground truth

    def _mat_path(self) -> Optional[str]:
        anno_dir = os.path.dirname(self.anno_file)
        if self.headbox_file:
            if os.path.isfile(self.headbox_file):
                return self.headbox_file
            path = os.path.join(anno_dir, self.headbox_file)
            if not os.path.isfile(path):
                raise FileNotFoundError(f'KeyPointTopDownMPIIEval: headbox_file not found: '
                                        f'{self.headbox_file} (also tried {path})')
            return path
        path = os.path.join(anno_dir, DEFAULT_HEADBOX_MAT)
        return path if os.path.isfile(path) else None

    def _gt_from_mat(self, path: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        mat = scipy.io.loadmat(path)
        for key in ('headboxes_src', 'jnt_missing', 'pos_gt_src'):
            if key not in mat:
                raise KeyError(f'KeyPointTopDownMPIIEval: {path} has no `{key}`')
        gts = np.transpose(mat['pos_gt_src'], (2, 0, 1)).astype(np.float64) - 1.0
        visible = (1 - np.transpose(mat['jnt_missing'])).astype(bool)
        head_sizes = head_sizes_from_boxes(np.transpose(mat['headboxes_src'], (2, 0, 1)))
        return gts, visible, head_sizes

    def _gt_from_json(self, entries: List[Mapping[str, Any]]
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        gts = np.stack([mpii_joints(e, i, self.num_joints, self.anno_file)
                        for i, e in enumerate(entries)]).astype(np.float64)
        visible = np.stack([np.asarray(e.get('joints_vis', np.ones(self.num_joints))) > 0
                            for e in entries])
        boxes = np.stack([_headbox_array(e['headbox'], i, self.anno_file)
                          for i, e in enumerate(entries)])
        return gts, visible, head_sizes_from_boxes(boxes)

    def _load_gt(self, entries: List[Mapping[str, Any]]
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gts (N, K, 2) 0-based, visible (N, K) bool, head_sizes (N,))."""
        if self.headbox_file is None and entries and all('headbox' in e for e in entries):
            return self._gt_from_json(entries)
        mat_path = self._mat_path()
        if mat_path is None:
            raise FileNotFoundError(
                f'KeyPointTopDownMPIIEval: no head boxes for {self.anno_file}: give every entry '
                f'a `headbox`, set headbox_file, or put {DEFAULT_HEADBOX_MAT} next to it')
        return self._gt_from_mat(mat_path)

    def _check_order(self, entries: List[Mapping[str, Any]], im_ids: np.ndarray) -> None:
        if len(im_ids) != len(entries):
            raise ValueError(f'KeyPointTopDownMPIIEval: {len(im_ids)} predictions but '
                             f'{self.anno_file} has {len(entries)} entries')
        expected = np.array([mpii_image_id(e, i) for i, e in enumerate(entries)])
        wrong = np.nonzero(expected != im_ids)[0]
        if wrong.size:
            i = int(wrong[0])
            raise ValueError(f'KeyPointTopDownMPIIEval: prediction {i} has im_id {im_ids[i]} but '
                             f'entry {i} of {self.anno_file} is image id {expected[i]}; evaluate '
                             f'with an unshuffled loader')

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, preds: np.ndarray, gts: np.ndarray, visible: np.ndarray,
                 head_sizes: np.ndarray) -> Dict[str, float]:
        """The reported values from predictions and ground truth in the same pixel frame.

        Args:
            preds: (N, K, 2) predicted joints.
            gts: (N, K, 2) ground-truth joints.
            visible: (N, K) bool, joints that count.
            head_sizes: (N,) head sizes in pixels.

        Returns:
            The keys of :data:`MEAN_THRESHOLDS` (``PCKh@0.5``, ``Mean@0.1``, ``PCKh@0.11
            (PaddleDetection "PCKh@0.1")``), then those of :data:`PCKH_PARTS` (``Head`` ...
            ``Ankle``, at 0.5), in percent.
        """
        per_threshold = {key: pckh(preds, gts, visible, head_sizes, thr)
                         for key, thr in MEAN_THRESHOLDS.items()}
        results = {key: _mean_without_pelvis_thorax(pck, counts)
                   for key, (pck, counts) in per_threshold.items()}
        pck = per_threshold[PCKH_MEAN_KEY][0]
        for name, joints in PCKH_PARTS.items():
            results[name] = float(np.mean(pck[joints]))
        return results

    def accumulate(self) -> None:
        """Write the predictions and (unless only saving) compute PCKh."""
        kpts, im_ids = self._collected()
        self._write([{'image_id': int(i), 'keypoints': k.tolist()} for k, i in zip(kpts, im_ids)])
        if self.save_prediction_only:
            return
        entries = load_mpii_entries(self.anno_file, type(self).__name__)
        self._check_order(entries, im_ids)
        gts, visible, head_sizes = self._load_gt(entries)
        if len(gts) != len(kpts):
            raise ValueError(f'KeyPointTopDownMPIIEval: {len(kpts)} predictions but the head-box '
                             f'ground truth has {len(gts)} people')
        self.eval_results = self.evaluate(kpts[:, :, :2], gts, visible, head_sizes)

    def log(self) -> None:
        """Print Head ... Ankle and the three means as a markdown table."""
        if not self.eval_results:
            logger.info('Predictions saved to %s; no evaluation was run', self.res_file)
            return
        header = list(PCKH_PARTS) + list(MEAN_THRESHOLDS)
        print(markdown_table(header, [[self.eval_results[k] for k in header]], digits=2))

    def get_results(self) -> Dict[str, float]:
        """``{'PCKh@0.5': ..., 'Mean@0.1': ..., 'PCKh@0.11 (PaddleDetection "PCKh@0.1")': ...,
        'Head': ..., ..., 'Ankle': ...}`` in percent, ``PCKh@0.5`` first (empty with
        ``save_prediction_only``)."""
        return self.eval_results
