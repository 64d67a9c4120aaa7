"""The performance gate: did a method's step get slower relative to ``constant``?

It compares two ``scaling.json`` files (:mod:`mtlperf.scaling`) by ratios measured
within one run, never by absolute times, which swing 30-80% between runs on a shared
machine while interleaved ratios stay within a few percent. Where both files carry each
ratio's standard error (``ratio_se``), a change must also exceed :data:`NOISE_Z` combined
standard errors: a margin below what the measurement can resolve would flag identical code.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .io import read_json
from .validation import is_real

_COMPARABLE = ("device", "batch_size")  # ratios from different devices or batch sizes do not compare
NOISE_Z = 3.0  # standard errors a change must exceed besides the margin


def check(
    baseline_path: str | Path | Sequence[str | Path], current_path: str | Path, max_regression: float
) -> list[str]:
    """One line per regression; an empty list when the current run is within the margin.

    For each method and task count in both, ``ratio_to_constant`` fails when ``current / baseline - 1``
    exceeds ``max(max_regression, NOISE_Z * noise)``; likewise per method the growth 32 -> 128 of that
    ratio (its step's growth over constant's, free of the drift of absolute times measured minutes
    apart). With one baseline file the noise is ``sqrt(se_baseline² + se_current²)`` from the ratios'
    recorded standard errors; with several (runs of the same code) the baseline is their median and the
    noise their spread between runs, ``sd * sqrt(1 + 1/k)``, which also holds what varies from run to run.
    """
    if not is_real(max_regression) or not max_regression >= 0:
        raise ValueError(f"max_regression must be a fraction >= 0 (0.10 = 10% slower allowed), got {max_regression!r}")
    paths = [baseline_path] if isinstance(baseline_path, (str, Path)) else list(baseline_path)
    if not paths:
        raise ValueError("give at least one baseline file")
    baselines = [_load(path, "baseline") for path in paths]
    current = _load(current_path, "current")
    for baseline in baselines:
        for key in _COMPARABLE:
            if baseline.get(key) != current.get(key):
                raise ValueError(
                    f"baseline and current differ in {key} ({baseline.get(key)!r} vs {current.get(key)!r}); "
                    f"their ratios do not compare: measure a baseline with the same settings"
                )
    runs = [_ratios(baseline, path) for baseline, path in zip(baselines, paths, strict=True)]
    current_ratios = _ratios(current, current_path)
    common = sorted(set.intersection(*(set(r) for r in runs)) & current_ratios.keys(), key=lambda k: (k[1], k[0]))
    if not common:
        return [f"nothing to compare: no method and task count appear in both {paths[0]} and {current_path}"]
    failures = []
    for key in common:
        now, now_se = current_ratios[key]
        then, noise = _baseline([run[key] for run in runs], now_se)
        failures += _judge(f"{key[0]} at {key[1]} tasks", now, then, noise, max_regression, " constant")
    for method in sorted({m for m, _ in common} - {"constant"}):
        ends = [(method, 32), (method, 128)]
        if not all(end in current_ratios and all(end in run for run in runs) for end in ends):
            continue
        growths = [(run[ends[1]][0] / run[ends[0]][0], math.hypot(run[ends[0]][1], run[ends[1]][1])) for run in runs]
        now = current_ratios[ends[1]][0] / current_ratios[ends[0]][0]
        then, noise = _baseline(growths, math.hypot(current_ratios[ends[0]][1], current_ratios[ends[1]][1]))
        failures += _judge(f"{method} growth 32->128 tasks relative to constant", now, then, noise, max_regression, "")
    return failures


def _baseline(values: list[tuple[float, float]], current_se: float) -> tuple[float, float]:
    """(baseline value, relative noise of current / baseline) from one run's (value, se) or several runs'."""
    if len(values) == 1:
        ((value, se),) = values
        return value, math.hypot(se, current_se)
    ratios = [value for value, _ in values]
    middle = statistics.median(ratios)
    return middle, statistics.stdev(ratios) / middle * math.sqrt(1 + 1 / len(ratios))


def _judge(what: str, now: float, then: float, noise: float, max_regression: float, unit: str) -> list[str]:
    allowed = max(max_regression, NOISE_Z * noise)
    if now <= then * (1 + allowed):
        return []
    return [f"{what}: {now:.3f}x{unit}, baseline {then:.3f}x ({_change(now, then)}, allowed +{allowed:.0%})"]


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
