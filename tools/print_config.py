"""Print the complete config (defaults and keypoint metadata filled in), or every registered name.

Unknown keys fail here as they would in training, so this is the quick check of a new config.

    python tools/print_config.py -c CONFIG [-o key=value ...]
    python tools/print_config.py --list
"""
import argparse
import inspect
import sys

import yaml

from ppkpt.core.cli import exit_on_config_error
from ppkpt.core.workspace import ConfigDumper, filled_config, load_config, registered, schema_of


def list_registered() -> str:
    """Every registered class with its arguments, types and defaults."""
    lines = []
    for name, cls in registered().items():
        lines.append(f'{name}  [{getattr(cls, "__category__", "module")}]')
        for arg, (annotation, default) in schema_of(cls).items():
            type_name = getattr(annotation, '__name__', None) if isinstance(annotation, type) \
                else str(annotation).replace('typing.', '')
            shown = 'required' if default is inspect.Parameter.empty else f'default {default!r}'
            lines.append(f'    {arg}: {type_name} ({shown})')
    return '\n'.join(lines)


@exit_on_config_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-c', '--config')
    parser.add_argument('-o', '--opt', nargs='*', default=[])
    parser.add_argument('--list', action='store_true', help='list every registered name')
    args = parser.parse_args()
    if args.list:
        print(list_registered())
        return
    if not args.config:
        parser.error('-c CONFIG is required unless --list is given')
    cfg = load_config(args.config, args.opt)
    yaml.dump(filled_config(cfg), sys.stdout, Dumper=ConfigDumper, sort_keys=False,
              default_flow_style=None)


if __name__ == '__main__':
    main()
