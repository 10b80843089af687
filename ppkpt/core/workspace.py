"""The registry and the tagged-YAML config system.

A config is plain data: YAML mappings, lists and scalars, plus ``!ClassName {...}`` tags that
are recorded as :class:`LazyObject` and built only when :func:`create` (or a reader) needs them.
Components register with :func:`register` (creatable by name and usable as a tag) or
:func:`serializable` (usable as a tag and as a transform name).

Building an object checks its config against the constructor: unknown keys, missing required
arguments and values that do not match the type annotations raise :class:`ConfigError` naming
the config path, e.g. ``TopDownHRNet.num_joints``.

There is no module-level config: :func:`load_config` returns a complete config and every builder
(:func:`create`, :func:`build_object`) takes the config it builds from. The registry fills itself
on first use through the loaders added with :func:`add_component_loader`, so this module never
imports a component.
"""
import copy
import difflib
import inspect
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Type, Union

import typeguard
import yaml

__all__ = [
    'ConfigError', 'LazyObject', 'register', 'serializable', 'load_config', 'merge_config',
    'create', 'build_object', 'build_ops', 'check_top_level_keys', 'parse_overrides', 'registered', 'schema_of',
    'filled_config', 'add_component_loader', 'add_config_hook', 'declare_keys', 'known_keys',
    'read_config', 'USER_KEY_PREFIX', 'Config', 'require',
]

BASE_KEY = '_BASE_'
USER_KEY_PREFIX = 'x_'
"""Top-level keys that start with this prefix are the user's own: the strict check skips them."""


class ConfigError(ValueError):
    """A config names something unknown, misses a value or gives a value of the wrong type."""


class LazyObject:
    """A ``!ClassName {...}`` node: the class name and its arguments, not yet built.

    Args:
        name: registered class name (the tag without ``!``).
        kwargs: keyword arguments from a mapping node.
        args: positional arguments from a sequence node.
    """

    def __init__(self, name: str, kwargs: Optional[Dict[str, Any]] = None,
                 args: Optional[List[Any]] = None) -> None:
        self.name = name
        self.kwargs = dict(kwargs or {})
        self.args = list(args or [])

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LazyObject) and (self.name, self.kwargs, self.args)
                == (other.name, other.kwargs, other.args))

    def __repr__(self) -> str:
        return f'!{self.name} {self.kwargs or self.args}'


# name -> class; names in _CREATABLE can also be created by name with create().
_REGISTRY: Dict[str, Type] = {}
_CREATABLE: set = set()
_COMPONENT_LOADERS: List[Callable[[], None]] = []
_CONFIG_HOOKS: List[Callable[[Dict[str, Any]], None]] = []
_DECLARED_KEYS: Dict[str, Any] = {'filename': str}


def add_component_loader(loader: Callable[[], None]) -> None:
    """Run ``loader`` (which imports and so registers components) before the first lookup."""
    _COMPONENT_LOADERS.append(loader)


def _load_components() -> None:
    while _COMPONENT_LOADERS:
        _COMPONENT_LOADERS.pop(0)()


def add_config_hook(hook: Callable[[Dict[str, Any]], None]) -> None:
    """Run ``hook(cfg)`` on every config :func:`load_config` returns, after the overrides.

    Hooks complete a config in place (e.g. fill in the keypoint metadata) and raise
    :class:`ConfigError` (or ``ValueError``) for values that do not fit together.
    """
    _CONFIG_HOOKS.append(hook)


def declare_keys(*keys: str, **typed_keys: Any) -> None:
    """Declare top-level keys that code outside the registry reads (e.g. ``epoch``).

    ``typed_keys`` maps a key to the type its value must have (``epoch=int``);
    :func:`load_config` checks those types.
    """
    _DECLARED_KEYS.update({key: Any for key in keys if key not in _DECLARED_KEYS})
    _DECLARED_KEYS.update(typed_keys)


def known_keys() -> set:
    """Every top-level key a config may hold: declared keys, registered names and shared keys."""
    _load_components()
    shared = {key for cls in _REGISTRY.values() for key in _shared_keys(cls).values()}
    return set(_DECLARED_KEYS) | set(_REGISTRY) | shared


class Config(dict):
    """A complete config: a plain dict that also remembers the file it came from (``path``)."""

    def __init__(self, data: Mapping[str, Any], path: str = '') -> None:
        super().__init__(data)
        self.path = path


def require(cfg: Mapping[str, Any], key: str, purpose: str) -> Any:
    """``cfg[key]``, or a :class:`ConfigError` naming the file, the key and what needs it."""
    if key not in cfg:
        raise ConfigError(f'{_source(cfg)}the config has no top-level `{key}`, which '
                          f'{purpose} needs')
    return cfg[key]


def _source(cfg: Mapping[str, Any]) -> str:
    path = getattr(cfg, 'path', '')
    return f'{path}: ' if path else ''


def _add(cls: Type) -> None:
    existing = _REGISTRY.get(cls.__name__)
    if existing is not None and existing is not cls:
        if (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ConfigError(
                f'{cls.__name__} is already registered by {existing.__module__}; '
                f'{cls.__module__} defines another class with the same name')
    params = _params(cls)
    for arg in _shared_keys(cls):
        if arg not in params:
            raise ConfigError(f'{cls.__name__}.__shared__ names `{arg}`, which is not an argument')
    _REGISTRY[cls.__name__] = cls


def _shared_keys(cls: Type) -> Dict[str, str]:
    """``{argument: top-level config key}`` from ``__shared__`` (a list, or a dict for renames)."""
    shared = getattr(cls, '__shared__', [])
    return dict(shared) if isinstance(shared, dict) else {key: key for key in shared}


def register(cls: Type) -> Type:
    """Register ``cls`` so ``create('Name')`` and the YAML tag ``!Name`` can build it."""
    _add(cls)
    _CREATABLE.add(cls.__name__)
    return cls


def serializable(cls: Type) -> Type:
    """Register ``cls`` as a YAML tag ``!Name`` and a transform/scheduler name."""
    _add(cls)
    return cls


def registered(category: Optional[str] = None) -> Dict[str, Type]:
    """Registered classes by name, optionally only those whose ``__category__`` matches."""
    _load_components()
    return {n: c for n, c in sorted(_REGISTRY.items())
            if category is None or getattr(c, '__category__', 'module') == category}


def _params(cls: Type) -> Dict[str, inspect.Parameter]:
    sig = inspect.signature(cls.__init__)
    return {n: p for n, p in list(sig.parameters.items())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _accepts_any_key(cls: Type) -> bool:
    sig = inspect.signature(cls.__init__)
    return any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def schema_of(cls: Type) -> Dict[str, Tuple[Any, Any]]:
    """``{arg: (annotation, default)}`` for a class; default is ``inspect.Parameter.empty`` if required."""
    return {n: (p.annotation, p.default) for n, p in _params(cls).items()}


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' Did you mean `{close[0]}`?' if close else ''


def _unknown_name_error(kind: str, name: str, where: str) -> ConfigError:
    _load_components()
    names = sorted(_REGISTRY)
    return ConfigError(f'Unknown {kind} `{name}`{where}.{_suggest(name, names)} '
                       f'Registered names: {", ".join(names)}')


# --------------------------------------------------------------------------- YAML loading


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
        _check_lazy_keys(cfg, '')
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None
    return cfg


def check_top_level_keys(cfg: Mapping[str, Any], source: str) -> None:
    """Raise :class:`ConfigError` for the first top-level key no part of ppkpt reads."""
    known = known_keys()
    for key, value in cfg.items():
        if key in _DECLARED_KEYS:
            _check_type(value, _DECLARED_KEYS[key], f'{source}: {key}')
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


# --------------------------------------------------------------------------- building objects


def _check_keys(cls: Type, keys: Iterable[str], path: str) -> None:
    keys = list(keys)
    for key in getattr(cls, '__shared_only__', []):
        if key in keys:
            raise ConfigError(f'`{key}` is set once, at the top level of the config, so every '
                              f'part uses the same one; remove it from {path} ({cls.__name__})')
    if _accepts_any_key(cls):
        return
    params = _params(cls)
    moved = getattr(cls, '__moved__', {})
    for key in keys:
        if key in moved and key not in params:
            raise ConfigError(f'`{key}` in {path} ({cls.__name__}) is now set as `{moved[key]}`; '
                              f'see docs/config.md')
        if key not in params:
            accepted = ', '.join(params) or '(none)'
            raise ConfigError(f'Unknown key `{key}` in {path} ({cls.__name__}).'
                              f'{_suggest(key, params)} Accepted keys: {accepted}')


def _check_lazy_keys(value: Any, path: str) -> None:
    """Check every tagged node's keys against its class, without building anything."""
    if isinstance(value, LazyObject):
        _check_keys(_REGISTRY[value.name], value.kwargs, path or value.name)
        _check_lazy_keys(value.kwargs, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_lazy_keys(item, f'{path}.{key}' if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_lazy_keys(item, f'{path}[{i}]')


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace('typing.', '')


def _check_type(value: Any, annotation: Any, path: str) -> None:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return
    try:
        typeguard.check_type(value, annotation,
                             collection_check_strategy=typeguard.CollectionCheckStrategy.ALL_ITEMS)
    except typeguard.TypeCheckError:
        raise ConfigError(f'{path}: expected {_type_name(annotation)}, got '
                          f'{type(value).__name__} {value!r}') from None


def _resolve(value: Any, path: str, cfg: Mapping[str, Any]) -> Any:
    """Build tagged nodes inside a value (lists and dicts are walked), copying everything else."""
    if isinstance(value, LazyObject):
        return build_object(value, path, cfg)
    if isinstance(value, list):
        return [_resolve(v, f'{path}[{i}]', cfg) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _resolve(v, f'{path}.{k}', cfg) for k, v in value.items()}
    return copy.deepcopy(value)


def _inject(value: Any, path: str, cfg: Mapping[str, Any]) -> Any:
    if value is None or isinstance(value, LazyObject):
        return _resolve(value, path, cfg)
    if isinstance(value, str):
        if value not in _REGISTRY and value not in cfg:
            raise _unknown_name_error('module', value, f' injected at {path}')
        return create(value, cfg)
    if isinstance(value, dict):
        if 'name' not in value:
            raise ConfigError(f'{path}: an injected dict needs a `name` key naming the module')
        rest = {k: v for k, v in value.items() if k != 'name'}
        return _instantiate(_lookup(value['name'], path), rest, path, cfg)
    return value


def _lookup(name: str, path: str) -> Type:
    _load_components()
    if name not in _REGISTRY:
        raise _unknown_name_error('module', name, f' at {path}')
    return _REGISTRY[name]


def _instantiate(cls: Type, section: Mapping[str, Any], path: str, cfg: Mapping[str, Any],
                 args: Optional[List[Any]] = None, overrides: Optional[Dict[str, Any]] = None
                 ) -> Any:
    """Build ``cls`` from a config section: shared keys, injection, type checks, then the call."""
    _check_keys(cls, section, path)
    params = _params(cls)
    op_lists = getattr(cls, '__transforms__', [])
    kwargs = {k: _resolve(v, f'{path}.{k}', cfg) for k, v in section.items()
              if k not in getattr(cls, '__inject__', []) and k not in op_lists}
    for key in op_lists:
        if key in section:
            kwargs[key] = build_ops(section[key], f'{path}.{key}', cfg)
    for arg, key in _shared_keys(cls).items():
        if arg not in section and key in cfg:
            kwargs[arg] = _resolve(cfg[key], key, cfg)
    for key in getattr(cls, '__inject__', []):
        target = section.get(key, params[key].default if key in params else None)
        if target is not inspect.Parameter.empty:
            kwargs[key] = _inject(target, f'{path}.{key}', cfg)
    kwargs.update(overrides or {})
    positional = [_resolve(a, f'{path}[{i}]', cfg) for i, a in enumerate(args or [])]
    bound_positional = list(params)[:len(positional)]
    for name, param in params.items():
        if name in kwargs:
            if name not in getattr(cls, '__inject__', []) and name not in op_lists:
                _check_type(kwargs[name], param.annotation, f'{path}.{name}')
        elif name not in bound_positional and param.default is inspect.Parameter.empty:
            raise ConfigError(f'Missing required argument `{name}` for {cls.__name__} at {path}')
    try:
        return cls(*positional, **kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        message = exc.args[0] if len(exc.args) == 1 else exc
        raise ConfigError(f'{path} ({cls.__name__}): {message}') from exc
    except Exception as exc:
        raise type(exc)(f'{exc} (while building {cls.__name__} from config at {path})') from exc


def build_object(value: Union[LazyObject, Mapping[str, Any]], path: str,
                 cfg: Mapping[str, Any]) -> Any:
    """Build a tagged node, or a one-key mapping ``{Name: {args}}`` as used for transform lists.

    Args:
        value: a :class:`LazyObject` or ``{ClassName: kwargs-or-None}``.
        path: where the value sits in the config, used in error messages.
        cfg: the config that supplies ``__shared__`` keys.
    """
    _load_components()
    if isinstance(value, LazyObject):
        return _instantiate(_lookup(value.name, path), value.kwargs, path or value.name, cfg,
                            args=value.args)
    if isinstance(value, Mapping) and len(value) == 1:
        name, kwargs = next(iter(value.items()))
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ConfigError(f'{path}.{name}: the arguments must be a mapping, got {kwargs!r}')
        return _instantiate(_lookup(name, path), kwargs or {}, f'{path}.{name}' if path else name,
                            cfg)
    raise ConfigError(f'{path}: expected a !Tag or a one-key mapping {{Name: {{args}}}}, '
                      f'got {value!r}')


def build_ops(specs: Any, path: str, cfg: Mapping[str, Any]) -> List[Callable]:
    """Build a transform list ``[{OpName: {args}}, ...]``; built callables pass through.

    A class lists such arguments in ``__transforms__`` and receives the built ops.

    Raises:
        ConfigError: naming ``path[i]`` when the list or an entry is malformed.
    """
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise ConfigError(f'{path}: expected a list of {{OpName: {{args}}}} entries, got {specs!r}')
    ops = []
    for i, spec in enumerate(specs):
        op = spec if callable(spec) else build_object(spec, f'{path}[{i}]', cfg)
        if not callable(op):
            raise ConfigError(f'{path}[{i}]: {type(op).__name__} is not a transform (not callable)')
        ops.append(op)
    return ops


def create(name_or_cls: Union[str, Type], cfg: Mapping[str, Any], **overrides: Any) -> Any:
    """Build a registered module, or a tagged top-level config entry, from ``cfg``.

    ``create('TopDownHRNet', cfg)`` builds the class with the ``TopDownHRNet:`` section as its
    arguments; ``create('TrainDataset', cfg)`` builds the ``!Tag`` stored under that top-level
    key. Keyword ``overrides`` win over the config. The config itself is never modified.
    """
    try:
        return _create(name_or_cls, cfg, overrides)
    except ConfigError as exc:
        source = _source(cfg)
        if source and not str(exc).startswith(source):
            raise ConfigError(f'{source}{exc}') from exc.__cause__
        raise


def _create(name_or_cls: Union[str, Type], cfg: Mapping[str, Any],
            overrides: Dict[str, Any]) -> Any:
    _load_components()
    name = name_or_cls if isinstance(name_or_cls, str) else name_or_cls.__name__
    entry = cfg.get(name)
    if isinstance(entry, LazyObject):
        return _instantiate(_lookup(entry.name, name), {**entry.kwargs}, name, cfg,
                            args=entry.args, overrides=overrides)
    if name not in _REGISTRY:
        where = ' in the config' if name in cfg else ''
        raise _unknown_name_error('module', name, where)
    if entry is not None and not isinstance(entry, dict):
        raise ConfigError(f'Config key `{name}` must be a mapping of {name} arguments, '
                          f'got {entry!r}')
    return _instantiate(_REGISTRY[name], entry or {}, name, cfg, overrides=overrides)


def filled_config(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The config with every registered section and tag expanded to all its arguments.

    Each argument shows what :func:`create` would pass: the config's value, else the top-level
    value of a ``__shared__`` key, else the default; required ones show ``<missing>``.
    ``__shared_only__`` arguments appear once, at the top level, not in each section.

    Raises:
        ConfigError: a section or tag holds a key its class does not take (as building it
            would).
    """
    _load_components()
    return {key: _fill(key, value, cfg, key) for key, value in cfg.items()}


def _fill(key: str, value: Any, cfg: Mapping[str, Any], path: str) -> Any:
    if isinstance(value, LazyObject):
        return LazyObject(value.name, _with_defaults(_REGISTRY[value.name], value.kwargs, cfg,
                                                     path), value.args)
    if key in _CREATABLE and isinstance(value, dict):
        return _with_defaults(_REGISTRY[key], value, cfg, path)
    if isinstance(value, dict):
        return {k: _fill(k, v, cfg, f'{path}.{k}') for k, v in value.items()}
    if isinstance(value, list):
        return [_fill('', v, cfg, f'{path}[{i}]') for i, v in enumerate(value)]
    return copy.deepcopy(value)


def _with_defaults(cls: Type, given: Mapping[str, Any], cfg: Mapping[str, Any],
                   path: str) -> Dict[str, Any]:
    _check_keys(cls, given, path)
    shared = _shared_keys(cls)
    shared_only = getattr(cls, '__shared_only__', [])
    params = _params(cls)
    out: Dict[str, Any] = {}
    for name, param in params.items():
        if name in given:
            out[name] = _fill(name, given[name], cfg, f'{path}.{name}')
        elif name in shared_only:
            continue
        elif name in shared and shared[name] in cfg:
            out[name] = _fill(name, cfg[shared[name]], cfg, shared[name])
        elif param.default is not inspect.Parameter.empty:
            out[name] = copy.deepcopy(param.default)
        else:
            out[name] = '<missing>'
    for key, value in given.items():  # the extra keys of a class that takes **kwargs
        if key not in params:
            out[key] = _fill(key, value, cfg, f'{path}.{key}')
    return out


def _represent_lazy(dumper: yaml.SafeDumper, obj: LazyObject) -> yaml.Node:
    if obj.args:
        return dumper.represent_sequence(f'!{obj.name}', obj.args)
    return dumper.represent_mapping(f'!{obj.name}', obj.kwargs)


class ConfigDumper(yaml.SafeDumper):
    """Dumps configs, writing :class:`LazyObject` back as ``!Name`` tags."""


ConfigDumper.add_representer(LazyObject, _represent_lazy)
