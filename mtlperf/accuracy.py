"""Test accuracy against the number of tasks: SLAW Figure 2's accuracy panel, and the pinned baselines.

:func:`accuracy_sweep` trains every method on the first K tasks of a molecule set for each K,
over seeds, resumably (:func:`mtlperf.sweep.run_sweep`), and writes ``accuracy.json``,
``accuracy.md`` and ``accuracy.png`` (mean AP against task count: pooled, as SLAW reports, and
the mean over tasks). ``mtlperf scaling --accuracy accuracy.json`` puts the same numbers in the
second panel of the step-time figure. The files under ``results/accuracy/`` are such sweeps,
recorded with the ``short`` preset; the test suite trains seed 0 again and holds it to them.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import reports
from .config import PRESETS
from .data import load_dataset
from .data.fingerprints import FINGERPRINT_SETTINGS
from .data.subsets import restrict
from .device import device_name, resolve_device
from .io import atomic_write_json, atomic_write_text, json_ready
from .sweep import failures, finished_results, run_sweep, seed_configs, status

# SLAW's PCBA comparison (Figure 2) with LBTW beside it; the per-task strategies (STL, RMTL,
# fine tuning) train one network per task and have no place on a task-count axis
SWEEP_SPECS = ("constant", "lbtw", "slaw", "dwa", "uncertainty", "gradnorm", "pcgrad")
METRICS = ("mean_pr_auc", "pooled_pr_auc", "mean_roc_auc")
TOLERANCE_SPREADS = 3  # a rerun may differ from the baseline mean by this many seed standard deviations
MIN_TOLERANCE = 0.005  # ... and never less: other CPUs round differently


def accuracy_sweep(
    dataset: str,
    tasks: Sequence[int | None],
    seeds: int,
    out_dir: str | os.PathLike,
    *,
    methods: Sequence[str] = SWEEP_SPECS,
    preset: str = "slaw-pcba",
    device: str = "auto",
    slaw_filter: bool = True,
    progress: bool = True,
    n_bits: int | None = None,
    radius: int | None = None,
    client=None,
    **train_overrides: Any,
) -> dict:
    """Train ``methods`` on the first K tasks of ``dataset`` for each K in ``tasks`` (None: all), ``seeds`` seeds.

    ``preset``: a :data:`mtlperf.train.PRESETS` key, changed by ``train_overrides``; seed k is the
    preset's seed + k. ``slaw_filter``: keep the molecules labelled for one of the first 32 tasks
    (SLAW), so every K sees the same molecules. ``n_bits``, ``radius``: the fingerprints (default the
    loader's: SLAW's 2048 bits, radius 4). ``client``: a Dask client to run the runs on. Returns the
    ``accuracy.json`` dict.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    if isinstance(tasks, (str, int)) or not tasks:
        raise ValueError(f"tasks must be a non-empty list of task counts, got {tasks!r}")
    device = str(resolve_device(device))
    base = PRESETS[preset].replace(device=device, **train_overrides)
    configs = seed_configs(base, seeds)
    out = Path(out_dir)
    fingerprints = {key: value for key, value in zip(FINGERPRINT_SETTINGS, (n_bits, radius)) if value is not None}
    full = load_dataset(dataset, **fingerprints)
    datasets = [restrict(full, k, slaw_filter) for k in tasks]  # a bad K fails here, before any training
    summary = {
        "dataset": datasets[0].name,
        "tasks": [d.n_tasks for d in datasets],
        "seeds": seeds,
        "preset": preset,
        "slaw_filter": slaw_filter,
        "fingerprints": {key: full.meta.get(key) for key in FINGERPRINT_SETTINGS},
        "config": json_ready(dataclasses.asdict(base)),
        "device": device,
        "device_name": device_name(torch.device(device)),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "results": [],
    }
    for data in datasets:
        runs_dir = out / "runs" / f"{data.n_tasks}tasks"
        runs = run_sweep(data, methods, configs, runs_dir, progress=progress, client=client)
        summary["results"] += [_result(spec, data.n_tasks, records) for spec, records in runs.items()]
        atomic_write_json(out / "accuracy.json", summary)  # finished task counts survive an interruption
    atomic_write_text(out / "accuracy.md", reports.accuracy_markdown(summary))
    if any(r["status"] == "ok" for r in summary["results"]):
        reports.plot_accuracy_vs_tasks(summary, out / "accuracy.png")
    return summary


def tolerance(entry: dict) -> float:
    """How far one rerun may land from a baseline ``{"mean", "std"}``: 3 seed std, at least 0.005."""
    return max(TOLERANCE_SPREADS * entry["std"], MIN_TOLERANCE)


def _result(spec: str, n_tasks: int, records: list[dict]) -> dict:
    tests = [result["test"] for result in finished_results(records)]
    result: dict[str, Any] = {
        "method": spec,
        "n_tasks": n_tasks,
        "n_runs": len(tests),
        "status": status(records),
        "failed_runs": failures(records),
    }
    for metric in METRICS:
        values = [float(test[metric]) for test in tests]
        result[metric] = (
            {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values} if tests else None
        )
    return result
