"""Hyperparameter checks shared by the methods: one clear ValueError per bad value."""
from __future__ import annotations

import math
from typing import Any


def is_real(value: Any) -> bool:
    """A finite int or float (``True``/``False`` are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require(ok: bool, method: str, key: str, value: Any, expected: str) -> None:
    """Raise ``ValueError("METHOD: KEY=VALUE is invalid; expected ...")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{method}: {key}={value!r} is invalid; expected {expected}")
