"""Weighting methods: one file each, all in one registry.

Every module in this package that defines a method registers it on import;
``list_methods()`` and ``create_method()`` are the way in.
"""

import importlib
import pkgutil

from .base import NonFiniteLossError, WeightingMethod
from .registry import create_method, list_methods, method_class, parse_spec, register

_INFRASTRUCTURE = {"base", "registry", "gramian", "dual_cone"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "NonFiniteLossError",
    "WeightingMethod",
    "create_method",
    "list_methods",
    "method_class",
    "parse_spec",
    "register",
]
