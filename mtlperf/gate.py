"""The performance gate: did a method's step get slower relative to ``constant``?

It compares two ``scaling.json`` files (:mod:`mtlperf.scaling`) by ratios measured
within one run, never by absolute times, which swing 30-80% between runs on a shared
machine while interleaved ratios stay within a few percent. Where both files carry each
ratio's standard error (``ratio_se``), a change must also exceed :data:`NOISE_Z` combined
standard errors: a margin below what the measurement can resolve would flag identical code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .io import read_json
from .validation import is_real

_COMPARABLE = ("device", "batch_size")  # ratios from different devices or batch sizes do not compare
NOISE_Z = 3.0  # standard errors a change must exceed besides the margin


def check(baseline_path: str | Path, current_path: str | Path, max_regression: float) -> list[str]:
    """One line per regression; an empty list when the current run is within the margin.

    For each method and task count in both files, ``ratio_to_constant`` fails when
    ``current / baseline - 1 > max(max_regression, NOISE_Z * sqrt(se_baseline² + se_current²))``; and
    per method the growth 32 -> 128 of that ratio (its step's growth over constant's, free of the
    drift that absolute times measured minutes apart carry) likewise, with both task counts' errors.
    """
    if not is_real(max_regression) or not max_regression >= 0:
        raise ValueError(f"max_regression must be a fraction >= 0 (0.10 = 10% slower allowed), got {max_regression!r}")
    baseline, current = _load(baseline_path, "baseline"), _load(current_path, "current")
    for key in _COMPARABLE:
        if baseline.get(key) != current.get(key):
            raise ValueError(
                f"baseline and current differ in {key} ({baseline.get(key)!r} vs {current.get(key)!r}); "
                f"their ratios do not compare: measure a baseline with the same settings"
            )
    base_ratios, current_ratios = _ratios(baseline, baseline_path), _ratios(current, current_path)
    common = sorted(base_ratios.keys() & current_ratios.keys(), key=lambda key: (key[1], key[0]))
    if not common:
        return [f"nothing to compare: no method and task count appear in both {baseline_path} and {current_path}"]
    failures = []
    for key in common:
        (now, now_se), (then, then_se) = current_ratios[key], base_ratios[key]
        allowed = max(max_regression, NOISE_Z * math.hypot(now_se, then_se))
        if now > then * (1 + allowed):
            failures.append(
                f"{key[0]} at {key[1]} tasks: {now:.3f}x constant, baseline {then:.3f}x ({_change(now, then)}, "
                f"allowed +{allowed:.0%})"
            )
    for method in sorted({m for m, _ in common} - {"constant"}):
        ends = [(method, 32), (method, 128)]
        if not all(end in base_ratios and end in current_ratios for end in ends):
            continue
        then = base_ratios[ends[1]][0] / base_ratios[ends[0]][0]
        now = current_ratios[ends[1]][0] / current_ratios[ends[0]][0]
        errors = [ratios[end][1] for ratios in (base_ratios, current_ratios) for end in ends]
        allowed = max(max_regression, NOISE_Z * math.sqrt(sum(e * e for e in errors)))
        if now > then * (1 + allowed):
            failures.append(
                f"{method} growth 32->128 tasks relative to constant: {now:.3f}x, baseline {then:.3f}x "
                f"({_change(now, then)}, allowed +{allowed:.0%})"
            )
    return failures


def _load(path: str | Path, role: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise ValueError(f"{role} file not found: {path} (a scaling.json written by mtlperf scaling)")
    try:
        data = read_json(path)
    except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError: not UTF-8
        raise ValueError(f"{role} file {path} is not valid JSON: {error}") from None
    missing = [key for key in ("device", "batch_size", "results", "growth_32_to_128") if key not in data]
    if missing:
        raise ValueError(f"{role} file {path} is missing {', '.join(missing)}: not a scaling.json from mtlperf scaling")
    return data


def _ratios(scaling: dict[str, Any], path: str | Path) -> dict[tuple[str, int], tuple[float, float]]:
    """(method, n_tasks) -> (ratio to constant, its relative standard error; 0 when the file has none)."""
    ratios = {}
    for i, result in enumerate(scaling["results"]):
        missing = [key for key in ("method", "n_tasks", "ratio_to_constant") if key not in result]
        if missing:
            raise ValueError(f"{path}: results[{i}] is missing {', '.join(missing)}")
        ratios[result["method"], result["n_tasks"]] = (
            float(result["ratio_to_constant"]),
            float(result.get("ratio_se") or 0.0),
        )
    return ratios


def _change(current: float, baseline: float) -> str:
    return f"{current / baseline - 1:+.0%}"
