"""Building objects from a config: key and type checks, shared keys, injection, transform lists.

Building an object checks its config against the constructor: unknown keys, missing required
arguments and values that do not match the type annotations raise :class:`ConfigError` naming
the config path, e.g. ``TopDownHRNet.num_joints``. Every builder takes the config it builds
from.
"""
import copy
import inspect
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Type, Union

import typeguard

from ppkpt.core.registry import (_CREATABLE, _REGISTRY, ConfigError, LazyObject,
                                 _accepts_any_key, _load_components, _params, _shared_keys,
                                 _source, _suggest, _unknown_name_error)

__all__ = ['build_object', 'build_ops', 'create', 'filled_config', 'check_lazy_keys',
           'check_type']


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


def check_lazy_keys(value: Any, path: str) -> None:
    """Check every tagged node's keys against its class, without building anything."""
    if isinstance(value, LazyObject):
        _check_keys(_REGISTRY[value.name], value.kwargs, path or value.name)
        check_lazy_keys(value.kwargs, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_lazy_keys(item, f'{path}.{key}' if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_lazy_keys(item, f'{path}[{i}]')


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace('typing.', '')


def check_type(value: Any, annotation: Any, path: str) -> None:
    """Raise :class:`ConfigError` naming ``path`` when ``value`` does not fit ``annotation``
    (checked by typeguard, every item of a collection)."""
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
                check_type(kwargs[name], param.annotation, f'{path}.{name}')
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
