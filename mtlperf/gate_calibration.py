"""How often the performance gate fires on identical code, and how often it catches a planted regression.

``runs`` scaling runs of the code as it is (A) and ``runs`` with one method's step slowed by a
known factor (B, :func:`mtlperf.cases.make_case`'s ``slowdown``), all with the same settings.
Every pair of A runs is gated against each other (a failure there is a false alarm); every A run
is the baseline of every B run (the gate must name the slowed method). Then the same with a
baseline of several runs (``runs_baseline``): each A run against all the other A runs, each B run
against all A runs. ``calibration.json`` holds the rates and every comparison's failures; each
run's own directory resumes like any scaling run.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from .gate import check
from .io import atomic_write_json, atomic_write_text
from .scaling import run_scaling


def calibrate_gate(
    methods: list[str],
    tasks: list[int],
    *,
    runs: int,
    slowed: str,
    factor: float,
    out_dir: str | Path,
    max_regression: float = 0.10,
    **scaling_settings,
) -> dict:
    """Time ``2 * runs`` scaling runs in ``out_dir`` (A: as is, B: ``slowed`` x ``factor``) and gate the pairs."""
    if runs < 2:
        raise ValueError(f"runs must be at least 2 (A/A pairs need two runs), got {runs}")
    if slowed not in methods:
        raise ValueError(f"the slowed method {slowed!r} must be one of the timed methods: {', '.join(methods)}")
    out_dir = Path(out_dir)
    same = {"methods": methods, "tasks": tasks, **scaling_settings}
    plain = [_run(out_dir / f"a{i}", same, {}) for i in range(runs)]
    planted = [_run(out_dir / f"b{i}", same, {slowed: factor}) for i in range(runs)]
    aa = [(a, b, check(a, b, max_regression)) for a, b in itertools.combinations(plain, 2)]
    ab = [(a, b, check(a, b, max_regression)) for a in plain for b in planted]
    loo = [
        (plain[:i] + plain[i + 1 :], a, check(plain[:i] + plain[i + 1 :], a, max_regression))
        for i, a in enumerate(plain)
    ]
    many = [(plain, b, check(plain, b, max_regression)) for b in planted]
    summary = {
        "methods": methods,
        "tasks": tasks,
        "runs": runs,
        "slowed": slowed,
        "factor": factor,
        "max_regression": max_regression,
        "settings": scaling_settings,
        **_rates(aa, ab, slowed),
        "runs_baseline": _rates(loo, many, slowed),
        "pairs": [{"baseline": str(a), "current": str(b), "failures": f} for a, b, f in aa + ab],
        "runs_baseline_comparisons": [
            {"baseline": [str(p) for p in a], "current": str(b), "failures": f} for a, b, f in loo + many
        ],
    }
    atomic_write_json(out_dir / "calibration.json", summary)
    atomic_write_text(out_dir / "calibration.md", calibration_markdown(summary))
    return summary


def calibration_markdown(summary: dict) -> str:
    runs, many = summary, summary["runs_baseline"]
    return (
        f"Gate calibration: `mtlperf gate --max-regression {summary['max_regression']}`, `{summary['slowed']}` "
        f"slowed {summary['factor']}x in the planted runs, {summary['runs']} runs of each kind.\n\n"
        "| baseline | false alarms | detections | another method named |\n| --- | --- | --- | --- |\n"
        f"| one run | {runs['false_alarm_rate']:.0%} | {runs['detection_rate']:.0%} | "
        f"{runs['other_method_blamed_rate']:.0%} |\n"
        f"| the other runs | {many['false_alarm_rate']:.0%} | {many['detection_rate']:.0%} | "
        f"{many['other_method_blamed_rate']:.0%} |\n"
    )


def _rates(identical: list, planted: list, slowed: str) -> dict:
    return {
        "false_alarm_rate": sum(bool(f) for _, _, f in identical) / len(identical),
        "detection_rate": sum(any(_names(line, slowed) for line in f) for _, _, f in planted) / len(planted),
        "other_method_blamed_rate": sum(any(not _names(line, slowed) for line in f) for _, _, f in planted)
        / len(planted),
    }


def _run(directory: Path, same: dict, slowdown: dict) -> Path:
    run_scaling(out_dir=str(directory), slowdown=slowdown, progress=False, **same)
    return directory / "scaling.json"


def _names(line: str, method: str) -> bool:
    return line.startswith((f"{method} at ", f"{method} growth "))
