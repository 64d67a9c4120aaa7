"""One registry of weighting methods, and the ``NAME:KEY=VALUE,...`` spelling."""

from __future__ import annotations

from typing import Any

from .base import WeightingMethod

_METHODS: dict[str, type[WeightingMethod]] = {}


def register(cls: type[WeightingMethod]) -> type[WeightingMethod]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name or cls.name in _METHODS:
        raise ValueError(f"cannot register {cls.__name__} under name {cls.name!r}")
    _METHODS[cls.name] = cls
    return cls


def list_methods() -> list[str]:
    """The registered weighting-method names, sorted."""
    return sorted(_METHODS)


def method_class(name: str) -> type[WeightingMethod]:
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(list_methods())}") from None


def create_method(name: str, n_tasks: int, **hyperparameters: Any) -> WeightingMethod:
    """Instantiate a registered method; unknown names or hyperparameters raise ValueError."""
    return method_class(name)(n_tasks, **hyperparameters)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``NAME:KEY=VALUE,...`` into the name and typed hyperparameters.

    Values are converted to the type of the method's default (float, int, bool,
    str; lists are written ``a;b;c``). Names that are not weighting methods
    (training strategies such as ``stl``) keep their values as strings.
    """
    spec = spec.strip()
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"empty method spec {spec!r}; expected NAME or NAME:KEY=VALUE,...")
    defaults = _METHODS[name].defaults if name in _METHODS else {}
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"bad hyperparameter {item!r} in {spec!r}; expected KEY=VALUE")
        params[key] = _convert(value.strip(), defaults.get(key), key, name)
    return name, params


def _convert(text: str, default: Any, key: str, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, (list, tuple)) or (default is None and ";" in text):
            return [float(v) for v in text.split(";") if v.strip()]
        if default is None:
            for kind in (int, float):
                try:
                    return kind(text)
                except ValueError:
                    pass
        return text
    except ValueError:
        kind = type(default).__name__ if default is not None else "value"
        raise ValueError(f"{name}: {key}={text!r} is not a valid {kind}") from None
