"""Keypoint metadata: names, flip pairs, upper-body ids, OKS sigmas, skeleton and colours.

One :class:`KeypointMeta` describes a keypoint set of K joints. Named presets
(:data:`PRESETS`, their data in :mod:`ppkpt.keypoint_presets`, chosen with the top-level
config key ``keypoint_preset``; K alone never picks one) give the
names, flip pairs, upper-body ids, OKS sigmas and skeleton of a public dataset:

=============== == ===================================================================
preset          K  keypoint set
=============== == ===================================================================
``coco17``      17 COCO person
``mpii16``      16 MPII person (no OKS sigmas: MPII is evaluated with PCKh)
``crowdpose14`` 14 CrowdPose person
``aic14``       14 AI Challenger person
``hand21``      21 COCO-WholeBody hand (also OneHand10K's order and names)
``ap10k17``     17 AP-10K animals (17 joints, but not COCO's)
=============== == ===================================================================

Each field is taken from, in order: the explicit value (argument or config key), the preset, the
dataset's COCO category (``keypoints`` names and 1-based ``skeleton``, see
:meth:`KeypointMeta.from_coco_categories`), and last the generic default:

- ``names``: ``kp0`` ... ``kp{K-1}`` (with a warning that neither a preset nor names were given);
- ``flip_pairs``: derived from the names by :func:`derive_flip_pairs` when names were given
  without a preset, else empty;
- ``upper_body_ids`` and ``skeleton``: empty;
- ``sigmas``: :data:`DEFAULT_SIGMA` (0.025) for every joint, the order of the COCO face and hand
  sigmas, so OKS works for a custom set before per-joint sigmas are measured;
- ``colors``: K evenly spaced hues;
- ``score_thresholds``: None, so deploy uses its ``--keypoint_threshold`` for every joint. Give K
  values when some joints are reliably less confident (a face joint, a small jaw tip).

The MPII preset defines no sigmas; asking it for OKS sigmas through
:meth:`KeypointMeta.oks_sigmas` raises a clear error.

This module (with its ``keypoint_presets``, ``keypoint_names`` and ``keypoint_category``)
imports only numpy and the standard library, so deploy code can use it.
"""
import colorsys
import difflib
import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ppkpt.keypoint_category import (category_fields, category_names, int_pairs,
                                     warn_on_name_mismatch)
from ppkpt.keypoint_names import derive_flip_pairs
from ppkpt.keypoint_presets import (COCO17_FLIP_PAIRS, COCO17_NAMES, COCO17_SIGMAS,
                                    PRESET_FIELDS, PRESETS)

__all__ = ['KeypointMeta', 'DEFAULT_SIGMA', 'COCO17_SIGMAS', 'COCO17_NAMES', 'COCO17_FLIP_PAIRS',
           'CONFIG_KEYS', 'PRESETS',
           'default_colors', 'derive_flip_pairs', 'fill_config', 'check_per_joint',
           'check_sigmas']

logger = logging.getLogger(__name__)

DEFAULT_SIGMA = 0.025

CONFIG_KEYS = {'num_joints': 'num_joints', 'preset': 'keypoint_preset',
               'names': 'keypoint_names', 'flip_pairs': 'flip_perm',
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


def check_per_joint(values: Sequence[float], num_joints: int, key: str,
                    is_valid: Callable[[float], bool], rule: str) -> None:
    """Check a list of K per-joint numbers, naming ``key`` and the bad entry.

    Raises:
        ValueError: e.g. ``sigmas has 15 values but num_joints is 17``.
    """
    if len(values) != num_joints:
        raise ValueError(f'{key} has {len(values)} values but num_joints is {num_joints}')
    for i, value in enumerate(values):
        if not is_valid(value):
            raise ValueError(f'{key}[{i}] = {value} must be {rule}')


def check_sigmas(sigmas: Sequence[float], num_joints: int) -> np.ndarray:
    """(K,) float64 OKS sigmas after checking there are K positive values."""
    check_per_joint(sigmas, num_joints, 'sigmas', lambda v: v > 0, 'positive')
    return np.asarray(sigmas, dtype=np.float64)


def _logged_flip_pairs(names: Sequence[str]) -> List[List[int]]:
    """:func:`derive_flip_pairs`, with an INFO line stating the pairs found."""
    pairs = derive_flip_pairs(names)
    described = ', '.join(f'{names[a]}<->{names[b]}' for a, b in pairs) or 'no left/right names'
    logger.info('flip_perm derived from keypoint_names: %s (%s)', pairs, described)
    return pairs


def _check_num_joints(num_joints: Any) -> int:
    """``num_joints`` as an int; ValueError unless it is a positive integer."""
    if isinstance(num_joints, bool) or not isinstance(num_joints, (int, np.integer)) \
            or num_joints <= 0:
        raise ValueError(f'num_joints must be a positive integer, got {num_joints!r}')
    return int(num_joints)


def _preset_fields(preset: Optional[str], num_joints: int) -> Dict[str, Any]:
    """The :data:`PRESET_FIELDS` of ``preset`` ({} for None).

    Raises:
        ValueError: for an unknown name (listing the known ones, suggesting the nearest) or a
            preset whose K is not ``num_joints``.
    """
    if preset is None:
        return {}
    if not isinstance(preset, str) or preset not in PRESETS:
        close = difflib.get_close_matches(str(preset).lower(), list(PRESETS), n=1)
        hint = f'; did you mean {close[0]!r}?' if close else ''
        raise ValueError(f'unknown keypoint_preset {preset!r}: the known presets are '
                         f'{", ".join(sorted(PRESETS))}{hint}')
    spec = PRESETS[preset]
    if len(spec['names']) != num_joints:
        raise ValueError(f'keypoint_preset {preset!r} ({spec["title"]}) has '
                         f'{len(spec["names"])} joints but num_joints is {num_joints}')
    return {key: spec[key] for key in PRESET_FIELDS}


class KeypointMeta:
    """Metadata of a keypoint set of K joints.

    Every argument left as None takes the value of ``preset`` when one is named, otherwise the
    generic default described in the module docstring (``flip_pairs`` is then derived from
    ``names`` when names are given). The number of joints alone never selects a preset. The
    constructor does not validate; call :meth:`validate` (``from_config``, ``from_dict`` and
    ``from_coco_categories`` do).

    Args:
        num_joints: K, the number of joints.
        preset: a :data:`PRESETS` name (``coco17``, ``mpii16``, ``crowdpose14``, ``aic14``,
            ``hand21``, ``ap10k17``) with K joints, or None.
        names: K joint names.
        flip_pairs: [left, right] joint index pairs that swap under a horizontal flip.
        upper_body_ids: joint indices of the upper body (used by half-body augmentation).
        sigmas: K per-joint OKS sigmas.
        skeleton: [a, b] joint index pairs drawn as limbs.
        colors: K per-joint drawing colours as [B, G, R] ints in 0..255.
        score_thresholds: K per-joint scores in [0, 1] a joint needs before deploy's temporal
            smoother trusts it; None leaves the threshold to the caller.

    Attributes:
        num_joints, preset, names, flip_pairs, upper_body_ids, sigmas, skeleton, colors,
            score_thresholds: as above, with defaults filled in; ``sigmas`` stays None for
            ``mpii16`` when not given.

    Raises:
        ValueError: for a bad ``num_joints``, an unknown preset (the message lists the known
            names and suggests the nearest) or a preset whose K is not ``num_joints``.
    """

    def __init__(self, num_joints: int, preset: Optional[str] = None,
                 names: Optional[List[str]] = None,
                 flip_pairs: Optional[List[List[int]]] = None,
                 upper_body_ids: Optional[List[int]] = None,
                 sigmas: Optional[List[float]] = None,
                 skeleton: Optional[List[List[int]]] = None,
                 colors: Optional[List[List[int]]] = None,
                 score_thresholds: Optional[List[float]] = None) -> None:
        self.num_joints = _check_num_joints(num_joints)
        chosen = _preset_fields(preset, self.num_joints)
        self.preset = preset
        if preset is None and names is None:
            logger.warning('num_joints=%d with no keypoint_preset and no keypoint_names: the '
                           'joints are named kp0..kp%d, with no flip pairs, upper body or '
                           'skeleton. Set keypoint_preset (one of %s) or keypoint_names.',
                           self.num_joints, self.num_joints - 1, ', '.join(sorted(PRESETS)))
        if flip_pairs is None and preset is None and names is not None:
            flip_pairs = _logged_flip_pairs(names)

        def pick(value: Any, key: str, generic: Any) -> Any:
            if value is not None:
                return value
            return chosen[key] if key in chosen else generic

        self.names = list(pick(names, 'names', [f'kp{i}' for i in range(self.num_joints)]))
        self.flip_pairs = int_pairs(pick(flip_pairs, 'flip_pairs', []), 'flip_perm')
        self.upper_body_ids = [int(v) for v in pick(upper_body_ids, 'upper_body_ids', [])]
        chosen_sigmas = pick(sigmas, 'sigmas', [DEFAULT_SIGMA] * self.num_joints)
        self.sigmas = None if chosen_sigmas is None else [float(v) for v in chosen_sigmas]
        self.skeleton = int_pairs(pick(skeleton, 'skeleton', []), 'skeleton')
        chosen_colors = colors if colors is not None else default_colors(self.num_joints)
        self.colors = [[int(c) for c in color] for color in chosen_colors]
        self.score_thresholds = (None if score_thresholds is None
                                 else [float(v) for v in score_thresholds])

    @property
    def title(self) -> str:
        """The preset's display title (e.g. ``MPII-16``), or ``custom`` without a preset."""
        return PRESETS[self.preset]['title'] if self.preset else 'custom'

    def __repr__(self) -> str:
        return (f'KeypointMeta(num_joints={self.num_joints}, {self.title}, '
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
        if values is not None:
            check_per_joint(values, self.num_joints, key, is_valid, rule)

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
                             f'({self.title}): set the top-level `sigmas` key (K values) to use '
                             f'OKS')
        self._validate_sigmas()
        return np.asarray(self.sigmas, dtype=np.float64)

    def joint_thresholds(self, default: float) -> List[float]:
        """K per-joint score thresholds: ``score_thresholds`` when set, else ``default`` for all."""
        if self.score_thresholds is not None:
            return list(self.score_thresholds)
        return [float(default)] * self.num_joints

    # ------------------------------------------------------------------ (de)serialisation

    @classmethod
    def _build(cls, num_joints: Any, explicit: Mapping[str, Any],
               category: Optional[Mapping[str, Any]]) -> 'KeypointMeta':
        """Build and validate with the precedence explicit > preset > category > generic.

        Args:
            num_joints: K.
            explicit: constructor arguments (None values count as not given).
            category: a COCO category (``keypoints``, 1-based ``skeleton``) or None.
        """
        kwargs = dict(explicit)
        if category is not None:
            fields = category_fields(category, _check_num_joints(num_joints))
            if kwargs.get('preset') is None:
                for attr, value in fields.items():
                    if kwargs.get(attr) is None:
                        kwargs[attr] = value
        meta = cls(num_joints, **kwargs).validate()
        if category is not None:
            warn_on_name_mismatch(meta.names, category)
        return meta

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any],
                    category: Optional[Mapping[str, Any]] = None) -> 'KeypointMeta':
        """Build and validate from the top-level config keys and, optionally, the dataset.

        Reads ``num_joints`` (required), ``keypoint_preset``, ``keypoint_names``, ``flip_perm``,
        ``upper_body_ids``, ``sigmas``, ``skeleton``, ``keypoint_colors`` and
        ``keypoint_score_thresholds``; other keys are ignored. Each field comes from the config
        key, else the preset, else ``category`` (names, skeleton and the flip pairs derived from
        the names), else the generic default. A warning is logged when the resulting names are
        not the category's.

        Args:
            cfg: the config.
            category: the dataset's COCO category (``keypoints`` names, 1-based ``skeleton``).

        Raises:
            KeyError: when ``num_joints`` is missing, or ``category`` has no ``keypoints``.
            ValueError: from the constructor, from :meth:`validate`, or naming the category
                when its keypoint count is not ``num_joints``.
        """
        if 'num_joints' not in cfg:
            raise KeyError('the config has no top-level `num_joints` key, needed to build the '
                           'keypoint metadata')
        explicit = {attr: cfg.get(key) for attr, key in CONFIG_KEYS.items()
                    if attr != 'num_joints'}
        return cls._build(cfg['num_joints'], explicit, category)

    @classmethod
    def from_coco_categories(cls, category: Mapping[str, Any], num_joints: Optional[int] = None,
                             **overrides: Any) -> 'KeypointMeta':
        """Build and validate from one COCO ``categories`` entry.

        Names come from the category's ``keypoints``, the skeleton from its 1-based
        ``skeleton`` (converted to 0-based) and the flip pairs are derived from the names
        (:func:`derive_flip_pairs`). ``overrides`` (constructor arguments, ``preset`` included)
        take precedence, a preset over the category, as in :meth:`from_config`.

        Args:
            category: e.g. ``{'name': 'person', 'keypoints': [...], 'skeleton': [[16, 14], ...]}``.
            num_joints: K; None takes the length of ``keypoints``.
            overrides: constructor arguments.

        Raises:
            KeyError: when the category has no ``keypoints``.
            ValueError: naming the category when its keypoint count is not ``num_joints`` or a
                skeleton link is not 1-based, or from :meth:`validate`.
        """
        k = len(category_names(category)) if num_joints is None else num_joints
        return cls._build(k, overrides, category)

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
        """Plain dict with the config key names (for ``infer_cfg.yml``); ``keypoint_preset``,
        ``sigmas`` and ``keypoint_score_thresholds`` may be None."""
        return {
            'num_joints': self.num_joints,
            'keypoint_preset': self.preset,
            'keypoint_names': list(self.names),
            'flip_perm': [list(p) for p in self.flip_pairs],
            'upper_body_ids': list(self.upper_body_ids),
            'sigmas': None if self.sigmas is None else list(self.sigmas),
            'skeleton': [list(link) for link in self.skeleton],
            'keypoint_colors': [list(c) for c in self.colors],
            'keypoint_score_thresholds': (None if self.score_thresholds is None
                                          else list(self.score_thresholds)),
        }


def fill_config(cfg: Dict[str, Any],
                category: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Validate the keypoint metadata and write its values into the top-level keys it lacks.

    After this, ``keypoint_names``, ``flip_perm``, ``upper_body_ids``, ``sigmas``, ``skeleton``
    (and every other non-None :meth:`KeypointMeta.to_dict` field) are top-level keys, taken as in
    :meth:`KeypointMeta.from_config`, so every component that shares them sees the same values.
    Keys the config already sets are kept. Configs without ``num_joints`` (detectors) are left
    alone.

    Args:
        cfg: the config, changed in place.
        category: the dataset's COCO category, the source after the config and the preset.

    Returns:
        ``cfg``.
    """
    if 'num_joints' not in cfg:
        return cfg
    for key, value in KeypointMeta.from_config(cfg, category).to_dict().items():
        if value is not None and cfg.get(key) is None:
            cfg[key] = value
    return cfg
