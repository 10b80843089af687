"""Reading configs: the safe tagged-YAML loader, ``_BASE_`` inheritance, ``-o`` overrides and
:func:`load_config`, which returns a complete, checked config.

The loader knows the registered ``!ClassName`` tags and nothing else (a ``!!python`` tag is an
error, nothing is constructed from it). There is no module-level config: :func:`load_config`
returns a new one each time.
"""
import copy
import os
from typing import Any, Dict, List, Mapping, Optional, Union

import yaml

from ppkpt.core.build import check_lazy_keys, check_type
from ppkpt.core.registry import (_CONFIG_HOOKS, _DECLARED_KEYS, _REGISTRY, BASE_KEY,
                                 USER_KEY_PREFIX, Config, ConfigError, LazyObject,
                                 _load_components, _suggest, _unknown_name_error, known_keys)

__all__ = ['load_yaml', 'read_config', 'load_config', 'merge_config', 'parse_overrides',
           'check_top_level_keys', 'ConfigDumper']


class _TagLoader(yaml.SafeLoader):
    """A SafeLoader that knows the registered ``!Name`` tags and nothing else."""


def _construct_tagged(loader: _TagLoader, suffix: str, node: yaml.Node) -> LazyObject:
    _load_components()
    if suffix not in _REGISTRY:
        mark = node.start_mark
        raise _unknown_name_error('tag', f'!{suffix}', f' in {mark.name}, line {mark.line + 1}')
    if isinstance(node, yaml.MappingNode):
        return LazyObject(suffix, kwargs=loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return LazyObject(suffix, args=loader.construct_sequence(node, deep=True))
    value = loader.construct_scalar(node)
    if value not in ('', None):
        raise ConfigError(f'!{suffix} takes a mapping or a list, got scalar {value!r}')
    return LazyObject(suffix)


def _reject_unknown(loader: _TagLoader, node: yaml.Node) -> None:
    mark = node.start_mark
    raise ConfigError(f'Unsupported YAML tag {node.tag} in {mark.name}, line {mark.line + 1}. '
                      'Only registered ppkpt tags (!ClassName) are allowed.')


_TagLoader.add_multi_constructor('!', _construct_tagged)
_TagLoader.add_constructor(None, _reject_unknown)


def load_yaml(text_or_stream: Any) -> Any:
    """Parse YAML with the safe tag loader (registered ``!Name`` tags only)."""
    return yaml.load(text_or_stream, Loader=_TagLoader)


def _read_yaml_file(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Config file not found: {path}')
    with open(path, encoding='utf-8') as f:
        try:
            data = load_yaml(f)
        except yaml.YAMLError as exc:
            raise ConfigError(f'{path}: invalid YAML{_yaml_position(exc)}: '
                              f'{getattr(exc, "problem", None) or exc}') from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: the top level of a config must be a mapping')
    return data


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, 'problem_mark', None) or getattr(exc, 'context_mark', None)
    return f', line {mark.line + 1}, column {mark.column + 1}' if mark is not None else ''


def _load_with_bases(path: str) -> Dict[str, Any]:
    data = _read_yaml_file(path)
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f'{path}: {BASE_KEY} must be a file name or a list of file names, '
                          f'got {bases!r}')
    merged: Dict[str, Any] = {}
    for base in bases:
        base_path = os.path.expanduser(base)
        if not os.path.isabs(base_path):
            base_path = os.path.join(os.path.dirname(path), base_path)
        base_path = os.path.normpath(base_path)
        if not os.path.isfile(base_path):
            raise ConfigError(f'{path}: {BASE_KEY} file not found: {base_path}')
        merged = _merge(merged, _load_with_bases(base_path))
    return _merge(merged, data)


def _merge(base: Any, override: Any) -> Any:
    """Recursively merge ``override`` into a copy of ``base``: dicts merge, everything else replaces."""
    if isinstance(base, LazyObject) and isinstance(override, (dict, LazyObject)):
        if isinstance(override, LazyObject) and override.name != base.name:
            return copy.deepcopy(override)
        extra = override.kwargs if isinstance(override, LazyObject) else override
        return LazyObject(base.name, _merge(base.kwargs, extra), base.args)
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def read_config(path: str) -> Dict[str, Any]:
    """Read a YAML config with its ``_BASE_`` files, without overrides, hooks or key checks.

    Bases are resolved relative to the including file and merged in order; the file itself
    wins over its bases. Nothing is built: tags stay :class:`LazyObject` records.
    """
    if os.path.splitext(path)[1] not in ('.yml', '.yaml'):
        raise ConfigError(f'Config must be a .yml or .yaml file, got {path}')
    cfg = _load_with_bases(path)
    cfg['filename'] = os.path.splitext(os.path.basename(path))[0]
    return cfg


def load_config(path: str, overrides: Union[None, List[str], Mapping[str, Any]] = None
                ) -> Dict[str, Any]:
    """The complete config of a run: the file, its bases, the overrides and the hooks.

    Args:
        path: a ``.yml`` config.
        overrides: ``-o`` style ``['key.sub=value', ...]`` or an already nested mapping; they
            win over the file.

    Returns:
        A new dict (``filename`` holds the config's stem) with every hook applied (the keypoint
        metadata filled in). Nothing is built.

    Raises:
        ConfigError: an unknown tag, an unknown key of a tagged component, or an unknown
            top-level key (named, with the nearest known key). Keys that start with
            :data:`USER_KEY_PREFIX` are the user's own and are not checked.
    """
    _load_components()
    cfg = read_config(path)
    if overrides:
        extra = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        cfg = merge_config(extra, cfg)
    cfg = Config(cfg, path)
    for hook in _CONFIG_HOOKS:
        try:
            hook(cfg)
        except (KeyError, ValueError, TypeError) as exc:
            message = exc.args[0] if exc.args else exc
            raise ConfigError(f'{path}: {message}') from exc
    check_top_level_keys(cfg, path)
    try:
        check_lazy_keys(cfg, '')
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None
    return cfg


def check_top_level_keys(cfg: Mapping[str, Any], source: str) -> None:
    """Raise :class:`ConfigError` for the first top-level key no part of ppkpt reads."""
    known = known_keys()
    for key, value in cfg.items():
        if key in _DECLARED_KEYS:
            check_type(value, _DECLARED_KEYS[key], f'{source}: {key}')
        if key in known or str(key).startswith(USER_KEY_PREFIX):
            continue
        raise ConfigError(f'{source}: unknown top-level key `{key}`.{_suggest(str(key), known)} '
                          f'Keys of your own must start with `{USER_KEY_PREFIX}`; '
                          f'`python tools/print_config.py --list` shows every component.')


def merge_config(config: Mapping[str, Any], base: Mapping[str, Any]) -> Dict[str, Any]:
    """A new config: ``config`` merged over ``base`` (dicts merge, everything else replaces)."""
    return _merge(dict(base), dict(config))


def parse_overrides(options: Optional[List[str]]) -> Dict[str, Any]:
    """Turn ``['a.b.c=1', 'a.b.d=[1, 2]']`` into ``{'a': {'b': {'c': 1, 'd': [1, 2]}}}``.

    Values are parsed as YAML scalars or lists. Options that share a prefix all apply.
    """
    result: Dict[str, Any] = {}
    for option in options or []:
        if '=' not in option:
            raise ConfigError(f'Option `{option}` must look like key=value, e.g. epoch=3')
        key, raw = option.split('=', 1)
        value = load_yaml(raw) if raw.strip() else ''
        node = result
        parts = key.strip().split('.')
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f'Option `{option}` conflicts with an earlier value of `{part}`')
            node = child
        node[parts[-1]] = value
    return result


def _represent_lazy(dumper: yaml.SafeDumper, obj: LazyObject) -> yaml.Node:
    if obj.args:
        return dumper.represent_sequence(f'!{obj.name}', obj.args)
    return dumper.represent_mapping(f'!{obj.name}', obj.kwargs)


class ConfigDumper(yaml.SafeDumper):
    """Dumps configs, writing :class:`LazyObject` back as ``!Name`` tags."""


ConfigDumper.add_representer(LazyObject, _represent_lazy)
