"""Keypoint metadata read from a dataset's COCO category: its joint names and 1-based
skeleton, checked against ``num_joints``; and index pairs checked as pairs.

Used by :class:`ppkpt.metadata.KeypointMeta`. numpy and the standard library only, so deploy
code can use it.
"""
import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ppkpt.keypoint_names import name_tokens

__all__ = ['int_pairs', 'category_names', 'category_fields', 'warn_on_name_mismatch']

logger = logging.getLogger('ppkpt.metadata')


def int_pairs(value: Sequence[Sequence[Any]], key: str) -> List[List[int]]:
    """Copy a list of index pairs, checking that each entry has exactly two integers."""
    pairs = []
    for i, pair in enumerate(value):
        if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
            raise ValueError(f'{key} entry {i} must be two joint indices [a, b], got {pair!r}')
        pairs.append([int(pair[0]), int(pair[1])])
    return pairs


def _category_label(category: Mapping[str, Any]) -> str:
    """How errors name a COCO category: its ``name``, else its ``id``."""
    return repr(category.get('name', category.get('id', '?')))


def category_names(category: Mapping[str, Any]) -> List[str]:
    """The ``keypoints`` names of a COCO category; KeyError naming the category when absent."""
    if category.get('keypoints') is None:
        raise KeyError(f'dataset category {_category_label(category)} has no `keypoints` list '
                       f'of joint names')
    return list(category['keypoints'])


def _category_skeleton(category: Mapping[str, Any]) -> Optional[List[List[int]]]:
    """The 1-based ``skeleton`` of a COCO category as 0-based links; None when absent.

    Raises:
        ValueError: naming the category and link when a link is not two integers >= 1.
    """
    if category.get('skeleton') is None:
        return None
    label = _category_label(category)
    links = int_pairs(category['skeleton'], f'dataset category {label} skeleton')
    for i, link in enumerate(links):
        if min(link) < 1:
            raise ValueError(f'dataset category {label} skeleton link {i} {link} is not 1-based '
                             f'(COCO joint ids start at 1)')
    return [[a - 1, b - 1] for a, b in links]


def category_fields(category: Mapping[str, Any], num_joints: int) -> Dict[str, Any]:
    """``names`` and (when present) ``skeleton`` from a COCO category with ``num_joints`` joints.

    Raises:
        ValueError: naming the category when its joint count is not ``num_joints``.
    """
    names = category_names(category)
    if len(names) != num_joints:
        raise ValueError(f'dataset category {_category_label(category)} has {len(names)} '
                         f'keypoints but num_joints is {num_joints}')
    fields: Dict[str, Any] = {'names': names}
    skeleton = _category_skeleton(category)
    if skeleton is not None:
        fields['skeleton'] = skeleton
    return fields


def warn_on_name_mismatch(names: Sequence[str], category: Mapping[str, Any]) -> None:
    """Warn when the chosen names are not the dataset category's (compared word by word, case
    and separators ignored): a preset or ``keypoint_names`` for another keypoint set."""
    for i, (chosen, theirs) in enumerate(zip(names, category_names(category))):
        if name_tokens(str(chosen)) != name_tokens(str(theirs)):
            logger.warning('keypoint_names disagree with dataset category %s: joint %d is %r but '
                           'the dataset calls it %r; check keypoint_preset / keypoint_names',
                           _category_label(category), i, chosen, theirs)
            return
