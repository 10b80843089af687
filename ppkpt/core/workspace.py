"""Registry and config system (being written; the decorator API below is final)."""
from typing import Any, Dict, Type

_REGISTRY: Dict[str, Type] = {}


def register(cls: Type) -> Type:
    _REGISTRY[cls.__name__] = cls
    return cls


def serializable(cls: Type) -> Type:
    _REGISTRY[cls.__name__] = cls
    return cls
