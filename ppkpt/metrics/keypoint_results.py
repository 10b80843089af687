"""What the keypoint metrics share: collecting predictions and writing them out."""
import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

__all__ = ['KeypointResults', 'to_numpy']

logger = logging.getLogger(__name__)


def to_numpy(value: Any) -> np.ndarray:
    """A paddle tensor, list or array as a numpy array."""
    return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)


class KeypointResults:
    """Mixin for metrics that collect keypoint predictions batch by batch.

    Per batch of N instances (top-down crops, or the people of one image bottom-up) it checks
    the keypoints are (N, K, 3) (x, y, score) with K = ``num_joints`` and keeps (N,) image ids.
    The collected predictions come back concatenated as (total N, K, 3) keypoints and
    (total N,) image ids, and are written to ``{output_eval}/keypoints_results.json``.

    The class using it sets ``num_joints``, ``num_samples`` and ``output_eval``.
    """

    num_joints: int
    num_samples: int
    output_eval: str

    @property
    def res_file(self) -> str:
        """Path of the written predictions."""
        return os.path.join(self.output_eval, 'keypoints_results.json')

    def reset(self) -> None:
        """Forget collected predictions and results."""
        self._keypoints: List[np.ndarray] = []
        self._im_ids: List[np.ndarray] = []
        self.eval_results: Dict[str, Any] = {}

    def _check_keypoints(self, keypoints: Any) -> np.ndarray:
        """(N, K, 3) float64 keypoints, shape-checked against ``num_joints``."""
        kpts = to_numpy(keypoints).astype(np.float64)
        if kpts.ndim != 3 or kpts.shape[1:] != (self.num_joints, 3):
            raise ValueError(f'{type(self).__name__}: outputs["keypoint"] must be (N, '
                             f'{self.num_joints}, 3), got {kpts.shape}')
        return kpts

    def _batch_keypoints(self, inputs: Mapping[str, Any],
                         outputs: Mapping[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
        """One batch's float64 keypoints (N, K, 3) and int64 image ids (N,), shape-checked."""
        kpts = self._check_keypoints(outputs['keypoint'])
        im_ids = to_numpy(inputs['im_id']).reshape(len(kpts)).astype(np.int64)
        return kpts, im_ids

    def _collected(self, samples: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """All keypoints (N, K, 3) and image ids (N,) so far.

        Args:
            samples: how many samples were collected (default: N, one per instance); a
                count other than ``num_samples`` is logged.

        Raises:
            RuntimeError: when nothing was collected.
        """
        name = type(self).__name__
        if not self._keypoints:
            raise RuntimeError(f'{name}.accumulate: update() was never called')
        kpts = np.concatenate(self._keypoints)
        im_ids = np.concatenate(self._im_ids)
        count = len(kpts) if samples is None else samples
        if count != self.num_samples:
            logger.warning('%s: collected %d samples, expected %d', name, count,
                           self.num_samples)
        return kpts, im_ids

    def _write(self, results: List[Dict[str, Any]]) -> None:
        """Write ``results`` as json to :attr:`res_file`."""
        os.makedirs(self.output_eval, exist_ok=True)
        with open(self.res_file, 'w', encoding='utf-8') as f:
            json.dump(results, f)
        logger.info('Keypoint predictions written to %s', self.res_file)
