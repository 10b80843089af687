"""Joint names read as words: the tokens of a name, and flip pairs from left/right names.

``ppkpt.metadata`` uses these to derive ``flip_perm`` for a custom keypoint set and to compare
a config's names with a dataset's. Standard library only, so deploy code can use it.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ['name_tokens', 'derive_flip_pairs']

_SIDE_TOKENS = {'left': 'left', 'l': 'left', 'right': 'right', 'r': 'right'}
_SEPARATORS = re.compile(r'[\s_\-.]+')
_WORDS = re.compile(r'[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+')
"""Words of a name part: an upper-case run (``L``), a capitalised or lower-case word, digits."""


def name_tokens(name: str) -> List[str]:
    """Lower-case words of a joint name, split at separators (space, ``_``, ``-``, ``.``) and at
    camelCase boundaries: ``'L_F_Paw'`` -> ``['l', 'f', 'paw']``, ``'leftHand'`` ->
    ``['left', 'hand']``."""
    return [word.lower() for part in _SEPARATORS.split(name) for word in _WORDS.findall(part)]


def _side_and_key(name: str) -> Optional[Tuple[str, Tuple[str, ...]]]:
    """``('left' | 'right', key)`` for a name with exactly one left/right word, where ``key`` is
    its words with that one replaced by ``*``; None for any other name."""
    tokens = name_tokens(name)
    sides = [i for i, token in enumerate(tokens) if token in _SIDE_TOKENS]
    if len(sides) != 1:
        return None
    i = sides[0]
    return _SIDE_TOKENS[tokens[i]], tuple(tokens[:i] + ['*'] + tokens[i + 1:])


def derive_flip_pairs(names: Sequence[str]) -> List[List[int]]:
    """Flip pairs from left/right joint names.

    Two names pair when they differ only in one left/right word (``left``/``right`` or
    ``l``/``r``, any case, as a separate word or a camelCase part): ``left_eye``/``right_eye``,
    ``L_Eye``/``R_Eye``, ``eye_l``/``eye_r``, ``leftHand``/``rightHand``. A left name without a
    right partner, and names with no or several side words, are left out.

    Args:
        names: K joint names.

    Returns:
        [[left_index, right_index], ...] in the order of the left joints; [] when no names pair.

    Raises:
        ValueError: when a name is not a string, naming its index.
    """
    lefts: List[Tuple[int, Tuple[str, ...]]] = []
    rights: Dict[Tuple[str, ...], int] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise ValueError(f'keypoint_names[{i}] must be a string, got {name!r}')
        found = _side_and_key(name)
        if found is None:
            continue
        side, key = found
        if side == 'left':
            lefts.append((i, key))
        else:
            rights.setdefault(key, i)
    return [[i, rights[key]] for i, key in lefts if key in rights]
