"""What the dataset tools share: one-line errors instead of tracebacks, the converters' options."""
import argparse
import sys
from typing import Callable, List, Optional, Sequence

DATA_ERRORS = (FileNotFoundError, KeyError, ValueError, TypeError)
"""The errors a bad input file raises (each names the file); anything else is a bug."""


def run(main: Callable[[Optional[Sequence[str]]], int],
        argv: Optional[Sequence[str]] = None) -> int:
    """Call ``main(argv)``; a data error becomes one ``error: ...`` line on stderr and code 1.

    Returns:
        the exit code.
    """
    try:
        return main(argv)
    except DATA_ERRORS as exc:
        message = exc.args[0] if exc.args else exc
        print(f'error: {message}', file=sys.stderr)
        return 1


def parse_skeleton(links: Sequence[str], num_joints: int) -> List[List[int]]:
    """``['0-2', '1-2']`` -> ``[[0, 2], [1, 2]]``.

    Raises:
        ValueError: for a link that is not ``A-B`` with ids in ``[0, num_joints)``.
    """
    pairs = []
    for link in links:
        parts = link.split('-')
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f'--skeleton link {link!r} must look like 0-2 (0-based ids)')
        pair = [int(parts[0]), int(parts[1])]
        if max(pair) >= num_joints:
            raise ValueError(f'--skeleton link {link!r} names a keypoint id >= {num_joints}')
        pairs.append(pair)
    return pairs


def add_common_arguments(parser: argparse.ArgumentParser,
                         keypoints: Optional[List[str]] = None, category: str = 'object') -> None:
    """``--keypoints``, ``--category`` and ``--skeleton``, shared by the converters.

    Args:
        parser: the tool's parser.
        keypoints: default names; None makes ``--keypoints`` required.
        category: default category name.
    """
    parser.add_argument('--keypoints', nargs='+', required=keypoints is None, default=keypoints,
                        metavar='NAME', help='the keypoint names in the order the model will use')
    parser.add_argument('--category', default=category, help='category name written out')
    parser.add_argument('--skeleton', nargs='*', default=[], metavar='A-B',
                        help='0-based links to draw, e.g. 0-2 1-2')
