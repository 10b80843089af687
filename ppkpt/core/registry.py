"""The component registry: names and YAML tags of the classes a config can build, the keys a
config may hold, and the value types shared by the config system.

Components register with :func:`register` (creatable by name and usable as a tag) or
:func:`serializable` (usable as a tag and as a transform name). The registry fills itself on
first use through the loaders added with :func:`add_component_loader`, so this module never
imports a component.
"""
import difflib
import inspect
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Type

__all__ = ['ConfigError', 'LazyObject', 'Config', 'register', 'serializable', 'registered',
           'schema_of', 'add_component_loader', 'add_config_hook', 'declare_keys', 'known_keys',
           'require', 'BASE_KEY', 'USER_KEY_PREFIX']

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
