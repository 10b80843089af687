"""The config system in one import: the registry, the tagged-YAML config files and building.

A config is plain data: YAML mappings, lists and scalars, plus ``!ClassName {...}`` tags that
are recorded as :class:`LazyObject` and built only when :func:`create` (or a reader) needs them.
There is no module-level config: :func:`load_config` returns a complete config and every
builder (:func:`create`, :func:`build_object`) takes the config it builds from.

The parts live in :mod:`ppkpt.core.registry` (names, tags, known keys),
:mod:`ppkpt.core.config_loader` (reading, ``_BASE_``, overrides, checks) and
:mod:`ppkpt.core.build` (key and type checks, shared keys, injection); this module gathers their
public names.
"""
from ppkpt.core.build import build_object, build_ops, create, filled_config
from ppkpt.core.config_loader import (ConfigDumper, check_top_level_keys, load_config,
                                      load_yaml, merge_config, parse_overrides, read_config)
from ppkpt.core.registry import (BASE_KEY, USER_KEY_PREFIX, Config, ConfigError, LazyObject,
                                 add_component_loader, add_config_hook, declare_keys,
                                 known_keys, register, registered, require, schema_of,
                                 serializable)

__all__ = [
    'ConfigError', 'LazyObject', 'Config', 'register', 'serializable', 'registered', 'schema_of',
    'add_component_loader', 'add_config_hook', 'declare_keys', 'known_keys', 'require',
    'BASE_KEY', 'USER_KEY_PREFIX', 'load_yaml', 'read_config', 'load_config', 'merge_config',
    'parse_overrides', 'check_top_level_keys', 'ConfigDumper', 'create', 'build_object',
    'build_ops', 'filled_config',
]
