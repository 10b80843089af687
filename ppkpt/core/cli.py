"""The argument parsers of the tools and the deploy scripts.

:class:`CompatParser` runs PaddleDetection's command lines unchanged:

- a boolean flag is a switch or takes a value, with ``=`` or a space and in any case
  (``--smooth``, ``--smooth True``, ``--smooth=false``). A bare flag never swallows the next
  word: ``--smooth video.mp4`` leaves ``video.mp4`` to the rest of the command line;
- a PaddleDetection flag that ppkpt does not implement is accepted and then either ignored
  with a one-line warning (it would not change the results) or rejected with a one-line error
  and exit code 2 (it would), see :class:`Unsupported`.

:class:`ArgsParser` adds the options every tool shares: ``-c CONFIG``, ``-o key=value ...``
and ``--seed``.
"""
import argparse
import functools
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from ppkpt.core.workspace import ConfigError

__all__ = ['ArgsParser', 'CompatParser', 'OptionError', 'Unsupported', 'parse_bool',
           'seed_everything', 'exit_on_config_error', 'SLICE_FLAGS', 'TOOL_FLAGS']

TRUE_WORDS = ('true', 'yes', 'y', 't', 'on', '1')
FALSE_WORDS = ('false', 'no', 'n', 'f', 'off', '0')


class OptionError(ValueError):
    """A command-line option that this ppkpt, this paddle build or this machine cannot
    honour; the message names the flag."""


def parse_bool(value: str) -> bool:
    """argparse type of a boolean value: true/false, yes/no, on/off, 1/0, t/f, y/n, any case.

    Raises:
        argparse.ArgumentTypeError: for any other word.
    """
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f'expected true or false, got {value!r}')


def _is_bool_word(token: str) -> bool:
    return token.strip().lower() in TRUE_WORDS + FALSE_WORDS


@dataclass(frozen=True)
class Unsupported:
    """A PaddleDetection flag that ppkpt accepts but does not implement.

    Attributes:
        flag: the option string, e.g. ``--slim_config``.
        reason: what the flag does in PaddleDetection and what ppkpt does instead.
        error: True when honouring the flag would change the results: giving it stops the run
            (exit code 2); False: it is ignored with a warning.
        kind: ``'bool'`` (a switch or true/false; only a true value counts as given),
            ``'value'`` (one value) or ``'list'`` (one or more values).
    """

    flag: str
    reason: str
    error: bool
    kind: str = 'bool'

    def message(self) -> str:
        """The one-line warning or error."""
        action = 'is not implemented in ppkpt' if self.error else \
            'is not implemented in ppkpt and is ignored'
        return f'{self.flag} {action}: {self.reason}'


_SLIM = Unsupported('--slim_config', 'model compression (quantisation, pruning, distillation) '
                                     'would change the model', True, 'value')

SLICE_FLAGS: Tuple[Unsupported, ...] = (
    Unsupported('--slice_infer', 'sliced small-object detection would change the detections',
                True),
    *(Unsupported(flag, 'it only configures --slice_infer', False, kind)
      for flag, kind in (('--slice_size', 'list'), ('--overlap_ratio', 'list'),
                         ('--combine_method', 'value'), ('--match_threshold', 'value'),
                         ('--match_metric', 'value'))),
)
"""PaddleDetection's sliced-inference flags (tools/eval.py, tools/infer.py, deploy)."""

TOOL_FLAGS: Dict[str, Tuple[Unsupported, ...]] = {
    'train': (
        _SLIM,
        Unsupported('--fleet', 'multi-GPU training is data-parallel with `python -m '
                               'paddle.distributed.launch tools/train.py ...`', False),
        Unsupported('--use_wandb', 'Weights & Biases logging; use --use_vdl', False),
        Unsupported('--profiler_options', 'the paddle profiler hook', False, 'value'),
        Unsupported('--save_proposals', 'RCNN proposals; keypoint models have none', False),
        Unsupported('--proposals_path', 'RCNN proposals; keypoint models have none', False,
                    'value'),
        Unsupported('--to_static', 'training runs in dynamic-graph mode (export converts the '
                                   'model to a static graph)', False),
    ),
    'eval': (
        _SLIM,
        Unsupported('--json_eval', 're-scoring saved result files without running the model',
                    True),
        Unsupported('--bias', "the +1 px box width/height of PaddleDetection's box AP would "
                              'change the box AP; ppkpt uses the COCO definition', True),
        Unsupported('--classwise', 'per-category AP tables; the overall metrics are printed',
                    False),
        Unsupported('--amp', 'evaluation runs in float32', False),
        *SLICE_FLAGS,
    ),
    'infer': (
        _SLIM,
        Unsupported('--use_vdl', 'VisualDL image logging; the overlays are written to '
                                 '--output_dir', False),
        Unsupported('--vdl_log_dir', 'VisualDL image logging', False, 'value'),
        Unsupported('--do_eval', 'evaluation after inference; run tools/eval.py', True),
        Unsupported('--save_threshold', 'every person is saved (a detector-box option in '
                                        'PaddleDetection)', False, 'value'),
        Unsupported('--rtn_im_file', 'the image path is always kept in keypoints.json', False),
        *SLICE_FLAGS,
    ),
    'export': (
        _SLIM,
        Unsupported('--export_serving_model', 'Paddle Serving export; ppkpt writes the Paddle '
                                              'Inference files only', True),
        Unsupported('--for_fd', 'the FastDeploy layout (inference.* + inference.yml); ppkpt '
                                'writes model.* + infer_cfg.yml', True),
    ),
}
"""PaddleDetection flags of ``tools/<name>.py`` that ppkpt accepts without implementing."""


class CompatParser(argparse.ArgumentParser):
    """``argparse`` that accepts PaddleDetection's flag syntax (see the module docstring).

    Args:
        description: shown by ``--help`` (raw formatting).
    """

    def __init__(self, description: Optional[str] = None) -> None:
        self._long_options: List[str] = []  # set first: the base class adds --help
        self._bool_flags: Set[str] = set()
        self._unsupported: List[Tuple[Unsupported, str]] = []
        self._checks: List[Callable[[argparse.Namespace], None]] = []
        super().__init__(description=description,
                         formatter_class=argparse.RawDescriptionHelpFormatter)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """``ArgumentParser.add_argument``, remembering the long option strings (to resolve
        abbreviations of boolean flags)."""
        action = super().add_argument(*args, **kwargs)
        self._long_options.extend(o for o in action.option_strings if o.startswith('--'))
        return action

    def add_bool(self, *flags: str, default: Optional[bool] = False, help: str = ''
                 ) -> argparse.Action:
        """A boolean flag: a switch (true) or followed by true/false, with ``=`` or a space.

        Args:
            flags: option strings, e.g. ``'--smooth'``.
            default: value when the flag is absent (None: decided later by the caller).
            help: what the flag does.
        """
        shown = '' if default is None else f'; default {str(default).lower()}'
        action = self.add_argument(*flags, nargs='?', const=True, default=default,
                                   type=parse_bool, metavar='BOOL',
                                   help=f'{help} (switch, or true/false{shown})')
        self._bool_flags.update(flag for flag in flags if flag.startswith('--'))
        return action

    def add_unsupported(self, specs: Sequence[Unsupported]) -> None:
        """Accept each flag of ``specs`` and warn or fail when it is given."""
        for spec in specs:
            tag = 'error if given' if spec.error else 'ignored with a warning'
            text = f'PaddleDetection flag, not implemented in ppkpt ({tag}): {spec.reason}'
            if spec.kind == 'bool':
                action = self.add_bool(spec.flag, help=text)
            else:
                action = self.add_argument(spec.flag, default=None, help=text,
                                           nargs='+' if spec.kind == 'list' else None)
            self._unsupported.append((spec, action.dest))

    def add_check(self, check: Callable[[argparse.Namespace], None]) -> None:
        """Run ``check(args)`` after parsing; it may call :meth:`warn`, :meth:`fail` or set
        values."""
        self._checks.append(check)

    def warn(self, message: str) -> None:
        """Print ``<prog>: warning: message`` to stderr."""
        print(f'{self.prog}: warning: {message}', file=sys.stderr)

    def fail(self, message: str) -> None:
        """Print ``<prog>: error: message`` (one line, no usage) and exit with code 2."""
        self.exit(2, f'{self.prog}: error: {message}\n')

    def parse_known_args(self, args: Optional[Sequence[str]] = None,
                         namespace: Optional[argparse.Namespace] = None
                         ) -> Tuple[argparse.Namespace, List[str]]:
        """Parse with boolean values attached to their flags, then report unsupported flags
        and run the checks."""
        argv = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(self._attach_bool_values(argv), namespace)
        for spec, dest in self._unsupported:
            value = getattr(parsed, dest)
            if (bool(value) if spec.kind == 'bool' else value is not None):
                (self.fail if spec.error else self.warn)(spec.message())
        for check in self._checks:
            check(parsed)
        return parsed, extras

    def _attach_bool_values(self, argv: List[str]) -> List[str]:
        """``--flag true`` -> ``--flag=true`` and a bare ``--flag`` -> ``--flag=true``, so a
        boolean flag never takes a word that is not a boolean."""
        out: List[str] = []
        index = 0
        while index < len(argv):
            token = argv[index]
            if token == '--':
                return out + argv[index:]
            flag = self._bool_flag(token)
            index += 1
            if flag is None:
                out.append(token)
            elif index < len(argv) and _is_bool_word(argv[index]):
                out.append(f'{flag}={argv[index]}')
                index += 1
            else:
                out.append(f'{flag}=true')
        return out

    def _bool_flag(self, token: str) -> Optional[str]:
        """The boolean flag ``token`` names (exactly or as a unique abbreviation), or None."""
        if token in self._bool_flags:
            return token
        if not (self.allow_abbrev and token.startswith('--')) or '=' in token:
            return None
        matches = [option for option in self._long_options if option.startswith(token)]
        return matches[0] if len(matches) == 1 and matches[0] in self._bool_flags else None


class ArgsParser(CompatParser):
    """The tools' parser: ``-c CONFIG``, ``-o key=value ...`` and ``--seed``.

    Args:
        description: shown by ``--help``.
        tool: ``'train'``, ``'eval'``, ``'infer'`` or ``'export'``: also accept that
            PaddleDetection tool's flags listed in :data:`TOOL_FLAGS`.
    """

    def __init__(self, description: Optional[str] = None, tool: Optional[str] = None) -> None:
        super().__init__(description)
        self.add_argument('-c', '--config', required=True, help='YAML config file')
        self.add_argument('-o', '--opt', nargs='*', default=[],
                          help='override config values, e.g. -o epoch=3 TrainReader.batch_size=8')
        self.add_argument('--seed', type=int, default=None,
                          help='seed python, numpy and paddle for a reproducible run')
        if tool is not None:
            self.add_unsupported(TOOL_FLAGS[tool])
        self.add_check(_seed_for_enable_ce)


def _seed_for_enable_ce(args: argparse.Namespace) -> None:
    """PaddleDetection's ``--enable_ce`` seeds with 0: the same as ``--seed 0`` unless a seed
    is given."""
    if getattr(args, 'enable_ce', False) and args.seed is None:
        args.seed = 0


def seed_everything(seed: int) -> None:
    """Seed python, numpy and paddle (paddle is imported lazily so this module stays light)."""
    import paddle

    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def exit_on_config_error(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tool's ``main``: a :class:`ConfigError` prints as one line and exits with 2."""

    @functools.wraps(main)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except ConfigError as err:
            message = ' '.join(str(err).split())
            print(f'ConfigError: {message}', file=sys.stderr)
            raise SystemExit(2) from None

    return wrapped
