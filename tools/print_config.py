"""Print the complete config (defaults and keypoint metadata filled in), or every registered name.

Unknown keys fail here as they would in training, so this is the quick check of a new config.

    python tools/print_config.py -c CONFIG [-o key=value ...]
    python tools/print_config.py --list [--markdown]
"""
import argparse
import inspect
import sys
from typing import Dict, List, Optional, Tuple

import yaml

from ppkpt.core.cli import exit_on_config_error
from ppkpt.core.workspace import ConfigDumper, filled_config, load_config, registered, schema_of


def _arguments(cls: type) -> List[Tuple[str, str, Optional[str]]]:
    """(argument, type name, repr of the default or None when required) per constructor
    argument."""
    rows = []
    for arg, (annotation, default) in schema_of(cls).items():
        type_name = getattr(annotation, '__name__', None) if isinstance(annotation, type) \
            else str(annotation).replace('typing.', '')
        rows.append((arg, str(type_name),
                     None if default is inspect.Parameter.empty else repr(default)))
    return rows


def _category(cls: type) -> str:
    return getattr(cls, '__category__', 'module')


def list_registered() -> str:
    """Every registered class with its arguments, types and defaults."""
    lines = []
    for name, cls in registered().items():
        lines.append(f'{name}  [{_category(cls)}]')
        lines.extend(f'    {arg}: {type_name} '
                     f'({"required" if default is None else "default " + default})'
                     for arg, type_name, default in _arguments(cls))
    return '\n'.join(lines)


def _cell(text: str) -> str:
    """``text`` as inline code that is safe inside a Markdown table cell."""
    return '`' + text.replace('|', '\\|') + '`'


def markdown_registered() -> str:
    """The same listing as Markdown: per category a heading, per class an argument table."""
    by_category: Dict[str, List[str]] = {}
    for name, cls in registered().items():
        by_category.setdefault(_category(cls), []).append(name)
    classes = registered()
    lines = []
    for category in sorted(by_category):
        lines += ['', f'### {category}']
        for name in by_category[category]:
            rows = _arguments(classes[name])
            lines += ['', f'#### `{name}`', '']
            if not rows:
                lines.append('No arguments.')
                continue
            lines += ['| argument | type | default |', '| --- | --- | --- |']
            lines += [f'| `{arg}` | {_cell(type_name)} | '
                      f'{"required" if default is None else _cell(default)} |'
                      for arg, type_name, default in rows]
    return '\n'.join(lines[1:])


@exit_on_config_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-c', '--config')
    parser.add_argument('-o', '--opt', nargs='*', default=[])
    parser.add_argument('--list', action='store_true', help='list every registered name')
    parser.add_argument('--markdown', action='store_true',
                        help='with --list: print the listing as Markdown (docs/config.md)')
    args = parser.parse_args()
    if args.list:
        print(markdown_registered() if args.markdown else list_registered())
        return
    if not args.config:
        parser.error('-c CONFIG is required unless --list is given')
    cfg = load_config(args.config, args.opt)
    yaml.dump(filled_config(cfg), sys.stdout, Dumper=ConfigDumper, sort_keys=False,
              default_flow_style=None)


if __name__ == '__main__':
    main()
