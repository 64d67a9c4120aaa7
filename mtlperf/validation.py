"""Checks of user-given values: each bad value is one ValueError naming it and what is accepted."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_integer(value: Any) -> bool:
    """A Python or numpy integer (``True``/``False`` are not numbers here)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite int or float (``True``/``False`` are not numbers here)."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def integer_at_least(value: Any, minimum: int, name: str) -> int:
    """``value`` as an int when it is an integer >= ``minimum``; else ``ValueError("NAME must be ...")``."""
    if not is_integer(value) or value < minimum:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def positive_int(value: Any, name: str) -> int:
    return integer_at_least(value, 1, name)


def require(ok: bool, method: str, key: str, value: Any, expected: str) -> None:
    """Raise ``ValueError("METHOD: KEY=VALUE is invalid; expected ...")`` unless ``ok`` (method hyperparameters)."""
    if not ok:
        raise ValueError(f"{method}: {key}={value!r} is invalid; expected {expected}")
