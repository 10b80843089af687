"""Keypoint metadata: names, flip pairs, upper-body ids, OKS sigmas, skeleton and colours.

One :class:`KeypointMeta` describes a keypoint set of K joints. COCO-17 and MPII-16 have built-in
presets that fill every field a config leaves out; any other K gets generic defaults:

- ``names``: ``kp0`` ... ``kp{K-1}``;
- ``flip_pairs``, ``upper_body_ids`` and ``skeleton``: empty;
- ``sigmas``: :data:`DEFAULT_SIGMA` (0.025) for every joint, the order of the COCO face and hand
  sigmas, so OKS works for a custom set before per-joint sigmas are measured;
- ``colors``: K evenly spaced hues;
- ``score_thresholds``: None, so deploy uses its ``--keypoint_threshold`` for every joint. Give K
  values when some joints are reliably less confident (a face joint, a small jaw tip).

The MPII preset defines no sigmas (MPII is evaluated with PCKh); asking it for OKS sigmas through
:meth:`KeypointMeta.oks_sigmas` raises a clear error.

This module imports only numpy and the standard library, so deploy code can use it.
"""
import colorsys
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

__all__ = ['KeypointMeta', 'DEFAULT_SIGMA', 'COCO17_SIGMAS', 'CONFIG_KEYS', 'default_colors']

DEFAULT_SIGMA = 0.025

COCO17_NAMES = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
    'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle']
COCO17_FLIP_PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
COCO17_UPPER_BODY = list(range(11))
COCO17_SIGMAS = [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
COCO17_SKELETON = [
    [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8],
    [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]]

MPII16_NAMES = [
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle', 'pelvis',
    'thorax', 'upper_neck', 'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
    'left_shoulder', 'left_elbow', 'left_wrist']
MPII16_FLIP_PAIRS = [[0, 5], [1, 4], [2, 3], [10, 15], [11, 14], [12, 13]]
MPII16_UPPER_BODY = list(range(7, 16))
MPII16_SKELETON = [
    [0, 1], [1, 2], [2, 6], [6, 3], [3, 4], [4, 5], [6, 7], [7, 8], [8, 9], [7, 12], [12, 11],
    [11, 10], [7, 13], [13, 14], [14, 15]]

_PRESETS: Dict[int, Dict[str, Any]] = {
    17: {'name': 'COCO-17', 'names': COCO17_NAMES, 'flip_pairs': COCO17_FLIP_PAIRS,
         'upper_body_ids': COCO17_UPPER_BODY, 'sigmas': COCO17_SIGMAS,
         'skeleton': COCO17_SKELETON},
    16: {'name': 'MPII-16', 'names': MPII16_NAMES, 'flip_pairs': MPII16_FLIP_PAIRS,
         'upper_body_ids': MPII16_UPPER_BODY, 'sigmas': None, 'skeleton': MPII16_SKELETON},
}

CONFIG_KEYS = {'num_joints': 'num_joints', 'names': 'keypoint_names', 'flip_pairs': 'flip_perm',
               'upper_body_ids': 'upper_body_ids', 'sigmas': 'sigmas', 'skeleton': 'skeleton',
               'colors': 'keypoint_colors', 'score_thresholds': 'keypoint_score_thresholds'}
"""Attribute name -> top-level config key."""


def default_colors(count: int) -> List[List[int]]:
    """``count`` evenly spaced, fully saturated hues as [B, G, R] ints in 0..255 (the default
    joint colours, also used by the drawing code for persons)."""
    colors = []
    for i in range(count):
        r, g, b = colorsys.hsv_to_rgb(i / max(count, 1), 1.0, 1.0)
        colors.append([int(round(b * 255)), int(round(g * 255)), int(round(r * 255))])
    return colors


def _int_pairs(value: Sequence[Sequence[Any]], key: str) -> List[List[int]]:
    """Copy a list of index pairs, checking that each entry has exactly two integers."""
    pairs = []
    for i, pair in enumerate(value):
        if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
            raise ValueError(f'{key} entry {i} must be two joint indices [a, b], got {pair!r}')
        pairs.append([int(pair[0]), int(pair[1])])
    return pairs


class KeypointMeta:
    """Metadata of a keypoint set of K joints.

    Every argument left as None takes the COCO-17 / MPII-16 preset when ``num_joints`` is 17 / 16,
    otherwise the generic default described in the module docstring. The constructor does not
    validate; call :meth:`validate` (``from_config`` and ``from_dict`` do).

    Args:
        num_joints: K, the number of joints.
        names: K joint names.
        flip_pairs: [left, right] joint index pairs that swap under a horizontal flip.
        upper_body_ids: joint indices of the upper body (used by half-body augmentation).
        sigmas: K per-joint OKS sigmas.
        skeleton: [a, b] joint index pairs drawn as limbs.
        colors: K per-joint drawing colours as [B, G, R] ints in 0..255.
        score_thresholds: K per-joint scores in [0, 1] a joint needs before deploy's temporal
            smoother trusts it; None leaves the threshold to the caller.

    Attributes:
        num_joints, names, flip_pairs, upper_body_ids, sigmas, skeleton, colors,
            score_thresholds: as above, with defaults filled in; ``sigmas`` stays None for
            MPII-16 when not given.
    """

    def __init__(self, num_joints: int, names: Optional[List[str]] = None,
                 flip_pairs: Optional[List[List[int]]] = None,
                 upper_body_ids: Optional[List[int]] = None,
                 sigmas: Optional[List[float]] = None,
                 skeleton: Optional[List[List[int]]] = None,
                 colors: Optional[List[List[int]]] = None,
                 score_thresholds: Optional[List[float]] = None) -> None:
        if isinstance(num_joints, bool) or not isinstance(num_joints, (int, np.integer)) \
                or num_joints <= 0:
            raise ValueError(f'num_joints must be a positive integer, got {num_joints!r}')
        self.num_joints = int(num_joints)
        preset = _PRESETS.get(self.num_joints)
        self.preset_name: Optional[str] = preset['name'] if preset else None

        def pick(value: Any, key: str, generic: Any) -> Any:
            if value is not None:
                return value
            return preset[key] if preset else generic

        self.names = list(pick(names, 'names', [f'kp{i}' for i in range(self.num_joints)]))
        self.flip_pairs = _int_pairs(pick(flip_pairs, 'flip_pairs', []), 'flip_perm')
        self.upper_body_ids = [int(v) for v in pick(upper_body_ids, 'upper_body_ids', [])]
        chosen_sigmas = pick(sigmas, 'sigmas', [DEFAULT_SIGMA] * self.num_joints)
        self.sigmas = None if chosen_sigmas is None else [float(v) for v in chosen_sigmas]
        self.skeleton = _int_pairs(pick(skeleton, 'skeleton', []), 'skeleton')
        chosen_colors = colors if colors is not None else default_colors(self.num_joints)
        self.colors = [[int(c) for c in color] for color in chosen_colors]
        self.score_thresholds = (None if score_thresholds is None
                                 else [float(v) for v in score_thresholds])

    def __repr__(self) -> str:
        kind = self.preset_name or 'custom'
        return (f'KeypointMeta(num_joints={self.num_joints}, {kind}, '
                f'{len(self.flip_pairs)} flip pairs, {len(self.skeleton)} links)')

    # ------------------------------------------------------------------ validation

    def _check_index(self, index: int, what: str) -> None:
        if not 0 <= index < self.num_joints:
            raise ValueError(f'{what} is out of range for num_joints={self.num_joints}')

    def _validate_names(self) -> None:
        if len(self.names) != self.num_joints:
            raise ValueError(f'keypoint_names has {len(self.names)} names but num_joints is '
                             f'{self.num_joints}')
        seen: Dict[str, int] = {}
        for i, name in enumerate(self.names):
            if name in seen:
                raise ValueError(f'keypoint_names: name {name!r} is used by joints {seen[name]} '
                                 f'and {i}')
            seen[name] = i

    def _validate_flip_pairs(self) -> None:
        owner: Dict[int, int] = {}
        for i, pair in enumerate(self.flip_pairs):
            for joint in pair:
                self._check_index(joint, f'flip_perm pair {i} {pair}')
            if pair[0] == pair[1]:
                raise ValueError(f'flip_perm pair {i} {pair} pairs joint {pair[0]} with itself')
            for joint in pair:
                if joint in owner:
                    raise ValueError(f'joint {joint} appears in flip_perm pairs {owner[joint]} '
                                     f'and {i}')
                owner[joint] = i

    def _validate_upper_body(self) -> None:
        for i, joint in enumerate(self.upper_body_ids):
            self._check_index(joint, f'upper_body_ids entry {i} ({joint})')
        if len(set(self.upper_body_ids)) != len(self.upper_body_ids):
            raise ValueError(f'upper_body_ids has repeated joints: {self.upper_body_ids}')

    def _check_per_joint(self, values: Optional[List[float]], key: str,
                         is_valid: Callable[[float], bool], rule: str) -> None:
        """Check an optional list of K per-joint numbers, naming ``key`` and the bad entry."""
        if values is None:
            return
        if len(values) != self.num_joints:
            raise ValueError(f'{key} has {len(values)} values but num_joints is '
                             f'{self.num_joints}')
        for i, value in enumerate(values):
            if not is_valid(value):
                raise ValueError(f'{key}[{i}] = {value} must be {rule}')

    def _validate_sigmas(self) -> None:
        self._check_per_joint(self.sigmas, 'sigmas', lambda v: v > 0, 'positive')

    def _validate_skeleton(self) -> None:
        for i, link in enumerate(self.skeleton):
            for joint in link:
                self._check_index(joint, f'skeleton link {i} {link}')

    def _validate_colors(self) -> None:
        if len(self.colors) != self.num_joints:
            raise ValueError(f'keypoint_colors has {len(self.colors)} colours but num_joints is '
                             f'{self.num_joints}')
        for i, color in enumerate(self.colors):
            if len(color) != 3 or not all(0 <= c <= 255 for c in color):
                raise ValueError(f'keypoint_colors[{i}] = {color} must be three ints in 0..255')

    def _validate_score_thresholds(self) -> None:
        self._check_per_joint(self.score_thresholds, 'keypoint_score_thresholds',
                              lambda v: 0.0 <= v <= 1.0, 'in [0, 1]')

    def validate(self) -> 'KeypointMeta':
        """Check every field against ``num_joints``.

        Returns:
            self, so calls can be chained.

        Raises:
            ValueError: naming the bad field and entry, e.g.
                ``flip_perm pair 3 [5, 17] is out of range for num_joints=17``,
                ``joint 5 appears in flip_perm pairs 2 and 4``,
                ``sigmas has 15 values but num_joints is 17``.
        """
        self._validate_names()
        self._validate_flip_pairs()
        self._validate_upper_body()
        self._validate_sigmas()
        self._validate_skeleton()
        self._validate_colors()
        self._validate_score_thresholds()
        return self

    # ------------------------------------------------------------------ derived values

    @property
    def flip_index(self) -> np.ndarray:
        """(K,) int64 permutation: joint ``i`` of a flipped image is joint ``flip_index[i]``.

        Raises:
            ValueError: when ``flip_pairs`` is invalid (see :meth:`validate`).
        """
        self._validate_flip_pairs()
        index = np.arange(self.num_joints, dtype=np.int64)
        for left, right in self.flip_pairs:
            index[left], index[right] = right, left
        return index

    def oks_sigmas(self) -> np.ndarray:
        """(K,) float64 OKS sigmas.

        Raises:
            ValueError: when this keypoint set has no sigmas (the MPII-16 preset).
        """
        if self.sigmas is None:
            raise ValueError(f'no OKS sigmas for num_joints={self.num_joints} '
                             f'({self.preset_name or "custom"}): set the top-level `sigmas` key '
                             f'(K values) to use OKS')
        self._validate_sigmas()
        return np.asarray(self.sigmas, dtype=np.float64)

    def joint_thresholds(self, default: float) -> List[float]:
        """K per-joint score thresholds: ``score_thresholds`` when set, else ``default`` for all."""
        if self.score_thresholds is not None:
            return list(self.score_thresholds)
        return [float(default)] * self.num_joints

    # ------------------------------------------------------------------ (de)serialisation

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> 'KeypointMeta':
        """Build and validate from the top-level config keys.

        Reads ``num_joints`` (required), ``keypoint_names``, ``flip_perm``, ``upper_body_ids``,
        ``sigmas``, ``skeleton``, ``keypoint_colors`` and ``keypoint_score_thresholds``; other
        keys are ignored.

        Raises:
            KeyError: when ``num_joints`` is missing.
            ValueError: from :meth:`validate`.
        """
        if 'num_joints' not in cfg:
            raise KeyError('the config has no top-level `num_joints` key, needed to build the '
                           'keypoint metadata')
        kwargs = {attr: cfg.get(key) for attr, key in CONFIG_KEYS.items()}
        return cls(**kwargs).validate()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'KeypointMeta':
        """Inverse of :meth:`to_dict`; unknown keys are an error.

        Raises:
            KeyError: when ``num_joints`` is missing or a key is unknown.
            ValueError: from :meth:`validate`.
        """
        unknown = sorted(set(data) - set(CONFIG_KEYS.values()))
        if unknown:
            raise KeyError(f'unknown keypoint metadata keys {unknown}; expected a subset of '
                           f'{sorted(CONFIG_KEYS.values())}')
        return cls.from_config(data)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict with the config key names (for ``infer_cfg.yml``); ``sigmas`` and
        ``keypoint_score_thresholds`` may be None."""
        return {
            'num_joints': self.num_joints,
            'keypoint_names': list(self.names),
            'flip_perm': [list(p) for p in self.flip_pairs],
            'upper_body_ids': list(self.upper_body_ids),
            'sigmas': None if self.sigmas is None else list(self.sigmas),
            'skeleton': [list(link) for link in self.skeleton],
            'keypoint_colors': [list(c) for c in self.colors],
            'keypoint_score_thresholds': (None if self.score_thresholds is None
                                          else list(self.score_thresholds)),
        }
