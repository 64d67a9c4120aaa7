"""Step time against the number of tasks (SLAW, Figure 2): the whole method x task-count matrix in one process.

For each task count every method is built, warmed up, then timed in rounds, one step of
each method per round, so drift of the machine (other jobs, clocks, heat) hits all
methods alike; ``constant`` is always timed with them and each method's median is
reported as a ratio to the ``constant`` of the same rounds. ``DIR/scaling.json`` is
rewritten atomically after every finished case, and a rerun with the same settings
skips the cases already there (resuming an interrupted run).

Each case also records the floating-point work of its step (:func:`mtlperf.flops.step_flops`)
and the fraction of the machine's dense-GEMM rate its median step achieves, that rate measured
at the start of the same run with the same threads (:func:`mtlperf.flops.gemm_rate`).
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from .cases import COMPARISONS, check_case, make_case, torchjd_available
from .device import device_name, resolve_device
from .flops import gemm_rate, step_flops
from .io import atomic_write_json, atomic_write_text, read_json
from .methods import parse_spec
from .methods.base import format_spec
from .timing import peak_memory_bytes, ratio_standard_error, repeat_standard_error, time_interleaved
from .validation import integer_at_least

REFERENCE = "constant"
DEFAULT_BATCH = {"cpu": 256, "cuda": 40_000}  # rows per step when none is given: SLAW's PCBA batch on a GPU
GROWTH_FROM, GROWTH_TO = 32, 128
STEPS, WARMUP, REPEATS = 10, 3, 5  # timed rounds per build, untimed steps per build, builds: the CPU gate's calibration


def run_scaling(
    methods: list[str],
    tasks: list[int],
    batch_size: int | None,
    steps: int,
    warmup: int,
    device: str,
    out_dir: str,
    seed: int = 0,
    repeats: int = 1,
    progress: bool = True,
    accuracy: str | os.PathLike | None = None,
    slowdown: Mapping[str, float] | None = None,
) -> dict:
    """Time every method at every task count; write ``scaling.json``, ``scaling.png`` and ``scaling.md`` in ``out_dir``.

    Everything is checked before the first step is timed. ``accuracy``: an ``accuracy.json``
    (:func:`mtlperf.accuracy.accuracy_sweep`) whose mean AP goes into the results and the
    figure's second panel. ``batch_size`` None: :data:`DEFAULT_BATCH` of the device. A rerun with
    the same settings into the same directory times only the cases the file lacks, and says so.
    ``slowdown``: spec -> factor, a regression planted in those methods' steps (gate calibration;
    recorded in the file). ``repeats``: how many times every case is built anew and timed for
    ``steps`` interleaved rounds (see :func:`measure`). Returns the scaling dict (the JSON's content).
    """
    dev = resolve_device(device)
    batch_size = DEFAULT_BATCH.get(dev.type, DEFAULT_BATCH["cuda"]) if batch_size is None else batch_size
    specs, notes = _check(methods, tasks, batch_size, steps, warmup, seed, repeats)
    slowdown = dict(slowdown or {})
    unknown = sorted(set(slowdown) - set(specs))
    if unknown:
        raise ValueError(f"slowdown names {', '.join(unknown)}, which are not timed here; timed: {', '.join(specs)}")
    accuracy_results = _accuracy_results(accuracy) if accuracy is not None else None
    path = Path(out_dir) / "scaling.json"
    settings = {
        "device": dev.type,
        "device_name": device_name(dev),
        "torch": torch.__version__,
        "batch_size": batch_size,
        "steps": steps,
        "warmup": warmup,
        "repeats": repeats,
        "seed": seed,
        **({"planted_slowdown": slowdown} if slowdown else {}),
    }
    scaling = _resume(path, settings) or {**settings, "results": [], "growth_32_to_128": {}}
    scaling["notes"] = notes
    for note in notes:
        print(f"mtlperf scaling: {note}", file=sys.stderr)
    done = {(r["method"], r["n_tasks"]) for r in scaling["results"]}
    if done:
        wanted = {(spec, n) for spec in specs for n in tasks}
        print(
            f"mtlperf scaling: {len(done & wanted)} of {len(wanted)} cases already measured in {path} with these "
            "settings: kept, not timed again (delete the file to time them again)",
            file=sys.stderr,
        )
    peak = None
    for n_tasks in dict.fromkeys(tasks):
        todo = [spec for spec in specs if (spec, n_tasks) not in done]
        if not todo:
            continue
        peak = peak or gemm_rate(dev)
        for result in measure(todo, n_tasks, batch_size, steps, warmup, repeats, dev, seed, progress, slowdown):
            result["gemm_peak_flops_per_s"] = peak["flops_per_s"]
            result["fraction_of_gemm_peak"] = (
                result["flops_per_step"]["total"] / result["step_time_s"]["median"] / peak["flops_per_s"]
            )
            scaling["gemm_peak"] = peak
            scaling["results"].append(result)
            scaling["growth_32_to_128"] = growth(scaling["results"])
            atomic_write_json(path, scaling)
    if accuracy_results is not None:
        attach_accuracy(scaling, accuracy_results)
    atomic_write_json(path, scaling)
    _write_reports(scaling, Path(out_dir), notes)
    return scaling


def growth(results: list[dict]) -> dict[str, float]:
    """Per method, median step time at 128 tasks over that at 32 (methods measured at both)."""
    median = {(r["method"], r["n_tasks"]): r["step_time_s"]["median"] for r in results}
    return {
        spec: median[spec, GROWTH_TO] / median[spec, GROWTH_FROM]
        for spec in dict.fromkeys(r["method"] for r in results)
        if (spec, GROWTH_FROM) in median and (spec, GROWTH_TO) in median
    }


def attach_accuracy(scaling: dict, accuracy_results: list[dict]) -> None:
    """Give each timed case the mean AP its method reached at its task count: ``mean_ap`` = {pooled, per_task_mean}.

    Methods are matched by spec without ``implementation`` and ``chunk_size``, which change the
    cost of a step and not its result.
    """
    trained = {(_accuracy_key(r["method"]), r["n_tasks"]): r for r in accuracy_results if r.get("status") == "ok"}
    for result in scaling["results"]:
        if result["method"] in COMPARISONS:  # a comparison row trains nothing of its own
            continue
        found = trained.get((_accuracy_key(result["method"]), result["n_tasks"]))
        if found is not None:
            result["mean_ap"] = {
                "pooled": found["pooled_pr_auc"]["mean"],
                "per_task_mean": found["mean_pr_auc"]["mean"],
            }


def _accuracy_key(spec: str) -> str:
    name, hyperparameters = parse_spec(spec)
    return format_spec(name, {k: v for k, v in hyperparameters.items() if k not in ("implementation", "chunk_size")})


def _accuracy_results(path: str | os.PathLike) -> list[dict]:
    try:
        results = read_json(path)["results"]
        for r in results:
            r["method"], r["n_tasks"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not an accuracy.json of `mtlperf accuracy` ({error})") from None
    return results


def measure(
    specs: list[str],
    n_tasks: int,
    batch_size: int,
    steps: int,
    warmup: int,
    repeats: int,
    device: torch.device,
    seed: int,
    progress: bool,
    slowdown: Mapping[str, float],
) -> Iterator[dict]:
    """Time ``specs`` plus ``constant`` at one task count, interleaved; yield the result of each spec.

    Each of the ``repeats`` builds every case anew (in a rotated order) and times ``steps`` rounds.
    A built case can run 20-45% slower or faster than another build of the same case for as long as
    it lives (memory placement, most likely), which no number of rounds of that one build averages
    out; so ``ratio_to_constant`` is the median over repeats of each repeat's median ratio, and
    ``ratio_se`` (its relative standard error, which the gate reads) comes from the spread between
    repeats, or with one repeat from the spread of the per-round ratios (1.2533 x 1.4826 MAD / sqrt(rounds)).
    Peak memory is measured on every build (one extra step each); ``peak_memory_bytes`` is the largest.
    """
    from tqdm import tqdm

    timed = [REFERENCE, *(s for s in specs if s != REFERENCE)]
    times: dict[str, list[float]] = {spec: [] for spec in timed}
    ratios: dict[str, list[float]] = {spec: [] for spec in specs}
    memory: dict[str, list[int | None]] = {spec: [] for spec in specs}
    total = steps * repeats
    with tqdm(total=total, desc=f"{n_tasks} tasks", unit="round", disable=not progress, file=sys.stderr) as bar:
        for repeat in range(repeats):
            order = timed[repeat % len(timed) :] + timed[: repeat % len(timed)]
            cases = {
                spec: make_case(spec, n_tasks, batch_size, device, seed, slowdown=slowdown.get(spec, 1.0))
                for spec in order
            }
            block = time_interleaved(cases, steps, warmup, on_round=bar.update)
            for spec in timed:
                times[spec] += block[spec]
            for spec in specs:
                ratios[spec].append(statistics.median(block[spec]) / statistics.median(block[REFERENCE]))
                memory[spec].append(peak_memory_bytes(cases[spec]))
    for spec in specs:
        yield {
            "method": spec,
            "implementation": cases[spec].implementation,
            "n_tasks": n_tasks,
            "step_time_s": {
                "median": statistics.median(times[spec]),
                "min": min(times[spec]),
                "max": max(times[spec]),
            },
            "ratio_to_constant": statistics.median(ratios[spec]),
            "ratio_se": (
                repeat_standard_error(ratios[spec])
                if repeats > 1
                else ratio_standard_error(times[spec], times[REFERENCE])
            ),
            "ratio_repeats": ratios[spec],
            "peak_memory_bytes": max((m for m in memory[spec] if m is not None), default=None),
            "peak_memory_repeats": memory[spec],
            "flops_per_step": step_flops(cases[spec]),
        }


def _check(
    methods: list[str], tasks: list[int], batch_size: int, steps: int, warmup: int, seed: int, repeats: int
) -> tuple[list[str], list[str]]:
    """The specs to time (constant first, duplicates dropped) and notes on skipped ones; ValueError on bad input."""
    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods must be a non-empty list of method specs, got {methods!r}")
    if isinstance(tasks, (str, int)) or not tasks:
        raise ValueError(f"tasks must be a non-empty list of task counts, got {tasks!r}")
    for name, value, low in (("steps", steps, 1), ("warmup", warmup, 0), ("seed", seed, 0), ("repeats", repeats, 1)):
        integer_at_least(value, low, name)
    notes = []
    specs = list(dict.fromkeys([REFERENCE, *(str(m).strip() for m in methods)]))
    for name, comparison in COMPARISONS.items():
        if name in specs and comparison.needs_torchjd and not torchjd_available():
            specs.remove(name)
            notes.append(f"{name} skipped: torchjd is not installed (pip install torchjd)")
    for n_tasks in tasks:
        for spec in specs:
            check_case(spec, n_tasks, batch_size)
    return specs, notes


def _resume(path: Path, settings: dict[str, Any]) -> dict | None:
    """The earlier run in ``path`` when it was made with ``settings``; None when there is none."""
    if not path.exists():
        return None
    try:
        earlier = read_json(path)
        earlier["results"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} exists but is not a scaling result ({error}); choose another output directory"
        ) from None
    different = [f"{k} {earlier.get(k)!r} there, {v!r} now" for k, v in settings.items() if earlier.get(k) != v]
    if different:
        raise ValueError(
            f"{path} holds a run with other settings ({'; '.join(different)}); "
            f"choose another output directory or delete the file"
        )
    return earlier


def _write_reports(scaling: dict, out_dir: Path, notes: list[str]) -> None:
    from . import reports

    if not scaling["results"]:
        return
    reports.plot_scaling(scaling, out_dir / "scaling.png")
    text = reports.scaling_markdown(scaling)
    atomic_write_text(out_dir / "scaling.md", text + "".join(f"\nNote: {note}\n" for note in notes))
