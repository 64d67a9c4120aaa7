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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .io import read_json
from .validation import is_real

_COMPARABLE = ("device", "batch_size")  # ratios from different devices or batch sizes do not compare
# Standard errors a change must exceed besides the margin: a one-sided 0.25% tail with ~8 degrees
# of freedom (two runs of 5 repeats), Bonferroni over the ~20 comparisons of a gate.
NOISE_Z = 4.0


@dataclass(frozen=True)
class Comparison:
    """One gated quantity: current and baseline value, the relative noise of their ratio, the allowed rise."""

    what: str
    current: float
    baseline: float
    noise: float
    allowed: float
    unit: str = ""

    @property
    def failed(self) -> bool:
        return self.current > self.baseline * (1 + self.allowed)

    def line(self) -> str:
        return (
            f"{self.what}: {self.current:.3f}x{self.unit}, baseline {self.baseline:.3f}x "
            f"({self.current / self.baseline - 1:+.0%}, allowed +{self.allowed:.0%})"
        )


def check(
    baseline_path: str | Path | Sequence[str | Path], current_path: str | Path, max_regression: float
) -> list[str]:
    """One line per regression (see :func:`compare`); an empty list when the current run is within the margin."""
    return [c.line() for c in compare(baseline_path, current_path, max_regression) if c.failed]


def summary(comparisons: list[Comparison], max_regression: float) -> str:
    """What the gate compared and the noise it saw, in one line."""
    noisiest = max(comparisons, key=lambda c: c.noise)
    return (
        f"compared {len(comparisons)} ratios to constant and growths; noise (relative standard error of "
        f"current/baseline) median {statistics.median(c.noise for c in comparisons):.1%}, largest "
        f"{noisiest.noise:.1%} ({noisiest.what}); allowed rise: the larger of +{max_regression:.0%} and "
        f"{NOISE_Z:g} x noise"
    )


def compare(
    baseline_path: str | Path | Sequence[str | Path], current_path: str | Path, max_regression: float
) -> list[Comparison]:
    """Every gated quantity the baseline and current runs share; ValueError when they do not compare.

    For each method and task count in both, ``ratio_to_constant`` fails when ``current / baseline - 1``
    exceeds ``max(max_regression, NOISE_Z * noise)``; likewise per method the growth 32 -> 128 of that
    ratio (its step's growth over constant's, free of the drift of absolute times measured minutes
    apart). With one baseline file the noise is ``sqrt(se_baseline² + se_current²)`` from the ratios'
    recorded standard errors; with several (runs of the same code) the baseline is their median and the
    noise the larger of their spread between runs, ``sd * sqrt(1 + 1/k)``, and that of one run's
    (the median baseline standard error with the current one): k runs give a rough sd.
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
        raise ValueError(f"nothing to compare: no method and task count appear in both {paths[0]} and {current_path}")
    comparisons = []
    for key in common:
        now, now_se = current_ratios[key]
        then, noise = _baseline([run[key] for run in runs], now_se)
        comparisons.append(_judge(f"{key[0]} at {key[1]} tasks", now, then, noise, max_regression, " constant"))
    for method in sorted({m for m, _ in common} - {"constant"}):
        ends = [(method, 32), (method, 128)]
        if not all(end in current_ratios and all(end in run for run in runs) for end in ends):
            continue
        growths = [(run[ends[1]][0] / run[ends[0]][0], math.hypot(run[ends[0]][1], run[ends[1]][1])) for run in runs]
        now = current_ratios[ends[1]][0] / current_ratios[ends[0]][0]
        then, noise = _baseline(growths, math.hypot(current_ratios[ends[0]][1], current_ratios[ends[1]][1]))
        comparisons.append(
            _judge(f"{method} growth 32->128 tasks relative to constant", now, then, noise, max_regression)
        )
    return comparisons


def _baseline(values: list[tuple[float, float]], current_se: float) -> tuple[float, float]:
    """(baseline value, relative noise of current / baseline) from one run's (value, se) or several runs'."""
    if len(values) == 1:
        ((value, se),) = values
        return value, math.hypot(se, current_se)
    ratios = [value for value, _ in values]
    middle = statistics.median(ratios)
    between = statistics.stdev(ratios) / middle * math.sqrt(1 + 1 / len(ratios))
    return middle, max(between, math.hypot(statistics.median(se for _, se in values), current_se))


def _judge(what: str, now: float, then: float, noise: float, max_regression: float, unit: str = "") -> Comparison:
    return Comparison(what, now, then, noise, max(max_regression, NOISE_Z * noise), unit)


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
