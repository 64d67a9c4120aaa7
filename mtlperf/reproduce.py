"""Study sweeps that repeat the papers' experiments, resumable one run at a time.

- :func:`reproduce_lbtw`: Liu, Liang, Gitter 2019 (LBTW), Table 1 / S1, Tables S2 / S3 and
  Figures 1 / S1: STL, MTL, Fine Tuning, GradNorm, RMTL and LBTW on a molecule set.
- :func:`reproduce_mtregression`: Crawshaw, Kosecka (SLAW), Figure 1 and Table 1 on MTRegression.

Every (method, seed) run goes to ``DIR/runs/<method>__seed<k>.json`` as soon as it ends; a rerun
with the same settings reads that file instead of training again. A run that raises (a diverged
loss, or any other error) is recorded as failed with its reason and the sweep goes on. Training is
:func:`mtlperf.train.train`; figures and the LBTW table are :mod:`mtlperf.reports`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import reports
from .config import PRESETS, TrainConfig
from .data import MultiTaskDataset, load_dataset
from .data.pcba import find_pcba_file
from .device import resolve_device
from .io import atomic_write_json, atomic_write_text, read_json
from .methods import parse_spec
from .metrics import negative_transfer
from .paper import LBTW_METHODS, LBTW_METRICS, lbtw_summary
from .train import TrainingDiverged, check_method, method_hyperparameters, train

logger = logging.getLogger(__name__)

LBTW_SPECS = tuple(LBTW_METHODS.values())
MTREGRESSION_SPECS = ("constant", "ideal-constant", "uncertainty", "gradnorm", "dwa", "pcgrad", "slaw")
PCBA_ENV = "MTLPERF_PCBA"  # path of the user's pcba.csv.gz, when it is not in the cache dir
PCBA_HELP = f"get it with `mtlperf data fetch pcba` or set {PCBA_ENV} to the path of DeepChem's pcba.csv.gz"
PAPER_TASKS = 128
FIGURE1_STEPS = 2000  # SLAW Figure 1 shows the first 2,000 steps
ROUNDING_ZERO = 1e-12  # IdealConstant's error is 0 up to float rounding (~1e-17): drawn as 0, not on the log axis
FINAL_ERROR_TOLERANCE = 0.1  # "reached its final error": stays within 10% of it (see steps_to_final)


# --- the sweeps -------------------------------------------------------------------------------


def reproduce_lbtw(
    dataset: str,
    n_tasks: int | None,
    seeds: int,
    out_dir: str | os.PathLike,
    *,
    epochs: int | None = None,
    device: str = "auto",
    progress: bool = True,
    methods: Sequence[str] = LBTW_SPECS,
    retry_failed: bool = False,
    **train_overrides: Any,
) -> dict:
    """LBTW Table 1 / S1 and Figures 1 / S1 on ``dataset`` (its first ``n_tasks`` tasks) over ``seeds`` seeds.

    Paper settings (``PRESETS["lbtw"]``, seed k = 123 + k) unless ``epochs`` or ``train_overrides``
    (any :class:`~mtlperf.train.TrainConfig` field) change them. ``dataset`` ``"pcba"`` is the paper's
    experiment and needs the real file (cache dir or ``$MTLPERF_PCBA``); with all 128 tasks the paper's
    values and the differences stand beside ours. Writes ``table1.md``, ``table1.json``, ``per_task.csv``,
    ``figure1.png`` (PR AUC), ``figure_s1.png`` (ROC AUC) and ``runs/``; returns the ``table1.json`` dict.
    ``methods``: other method specs instead of the paper's (negative transfer needs ``stl``).
    ``retry_failed``: train again the runs recorded as failed instead of keeping their failure.
    """
    device = str(resolve_device(device))  # settings name the real device ("auto" on a CPU = "cpu"); bad → ValueError
    base = PRESETS["lbtw"].replace(epochs=epochs, device=device, **train_overrides)
    configs = seed_configs(base, seeds)
    data = _load_molecules(dataset, n_tasks)
    runs = run_sweep(data, methods, configs, Path(out_dir) / "runs", progress=progress, retry_failed=retry_failed)
    out = Path(out_dir)
    per_task = {metric: _per_task_means(runs, data.task_names, metric) for metric in LBTW_METRICS}
    paper = lbtw_summary() if data.name == "pcba" and data.n_tasks == PAPER_TASKS else None
    summary = {
        "dataset": data.name,
        "n_tasks": data.n_tasks,
        "seeds": seeds,
        "config": json_plain(dataclasses.asdict(base)),
        "compared_with_paper": paper is not None,
        "methods": {spec: _lbtw_row(spec, records, per_task, paper) for spec, records in runs.items()},
        "files": {},
    }
    table = pd.DataFrame(
        {f"{metric}/{spec}": values for metric in LBTW_METRICS for spec, values in per_task[metric].items()},
        index=list(data.task_names),
    )
    table.index.name = "task"
    summary["files"]["per_task"] = str(atomic_write_text(out / "per_task.csv", table.to_csv()))
    for metric, name, label in (("pr_auc", "figure1", "PR AUC"), ("roc_auc", "figure_s1", "ROC AUC")):
        summary["files"][name] = _change_figure(
            pd.DataFrame(per_task[metric], index=table.index), out / f"{name}.png", label
        )
    if summary["files"]["figure1"] is None:
        summary["figures_skipped"] = "the change-vs-STL figures need STL and another method with results"
    summary["files"]["table1_md"] = str(atomic_write_text(out / "table1.md", _lbtw_markdown(summary, paper)))
    summary["files"]["table1_json"] = str(out / "table1.json")
    atomic_write_json(out / "table1.json", summary)
    return summary


def reproduce_mtregression(
    seeds: int,
    out_dir: str | os.PathLike,
    *,
    steps: int = 9900,
    device: str = "auto",
    progress: bool = True,
    methods: Sequence[str] = MTREGRESSION_SPECS,
    retry_failed: bool = False,
    **train_overrides: Any,
) -> dict:
    """SLAW Figure 1 and Table 1: seven methods on MTRegression for ``steps`` steps, seeds 0..``seeds``-1.

    Paper settings (``PRESETS["slaw-mtregression"]``) unless ``train_overrides`` change them; the data
    are the same for every seed (the seed changes initialisation and batch order); the loss-weight
    error is logged every ``log_every`` steps (default every step). Writes
    ``loss_weight_error.png`` (first 2,000 steps), ``table1.md``, ``mtregression.json`` and ``runs/``;
    returns the ``mtregression.json`` dict. ``methods``, ``retry_failed``: as in :func:`reproduce_lbtw`.
    """
    if not _is_positive_int(steps):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    device = str(resolve_device(device))
    config = PRESETS["slaw-mtregression"].replace(device=device, **train_overrides)
    data = load_dataset("mtregression")
    batches_per_epoch = math.ceil(len(data.meta["predefined_split"]["train"]) / config.batch_size)
    base = config.replace(max_steps=steps, epochs=math.ceil(steps / batches_per_epoch))
    runs = run_sweep(
        data, methods, seed_configs(base, seeds), Path(out_dir) / "runs", progress=progress, retry_failed=retry_failed
    )
    out = Path(out_dir)
    summary = {
        "steps": steps,
        "seeds": seeds,
        "log_every": base.log_every,
        "config": json_plain(dataclasses.asdict(base)),
        "methods": {spec: _mtregression_row(records, base.log_every) for spec, records in runs.items()},
    }
    summary["claims"] = mtregression_claims(summary)
    curves = {
        spec: [
            (step, error if error > ROUNDING_ZERO else 0.0)
            for step, error in zip(_logged_steps(row, base.log_every), row["loss_weight_error"])
        ]
        for spec, row in summary["methods"].items()
        if row["loss_weight_error"]
    }
    figure = out / "loss_weight_error.png"
    if curves:
        reports.plot_loss_weight_error(curves, figure, max_step=min(FIGURE1_STEPS, steps))
    summary["files"] = {
        "loss_weight_error": str(figure) if curves else None,
        "table1_md": str(atomic_write_text(out / "table1.md", _mtregression_markdown(summary))),
        "mtregression_json": str(out / "mtregression.json"),
    }
    atomic_write_json(out / "mtregression.json", summary)
    return summary


def mtregression_claims(summary: dict) -> dict[str, dict]:
    """The SLAW paper's MTRegression claims checked on a ``mtregression.json`` dict.

    Each claim -> ``{"holds": bool or None (a method is missing), "value": ratio of the two numbers
    compared}``: SLAW's and GradNorm's final loss-weight error at least 10x below Constant's and
    DWA's (value: good / bad), SLAW reaching its final error in fewer steps than GradNorm (SLAW /
    GradNorm), SLAW's test normalised loss within 10% of IdealConstant's (SLAW / IdealConstant), and
    SLAW's the lowest among the non-oracle methods (SLAW / the best other).
    """
    methods = summary["methods"]

    def value(spec: str, key: str) -> float | None:
        entry = methods.get(spec, {}).get(key)
        return entry["mean"] if isinstance(entry, dict) else entry

    def claim(low: float | None, high: float | None, holds) -> dict:
        """``holds(low, high)`` and the ratio ``low / high`` (None when either is missing)."""
        if low is None or high is None:
            return {"holds": None, "value": None}
        return {"holds": bool(holds(low, high)), "value": low / high if high else None}

    claims = {}
    for good in ("slaw", "gradnorm"):
        for bad in ("constant", "dwa"):
            claims[f"{good}_error_10x_below_{bad}"] = claim(
                value(good, "final_loss_weight_error"), value(bad, "final_loss_weight_error"), lambda g, b: 10 * g <= b
            )
    claims["slaw_faster_than_gradnorm"] = claim(
        value("slaw", "steps_to_final_error"), value("gradnorm", "steps_to_final_error"), lambda s, g: s < g
    )
    slaw = value("slaw", "test_normalized_loss")
    claims["slaw_test_loss_within_10pct_of_ideal"] = claim(
        slaw, value("ideal-constant", "test_normalized_loss"), lambda s, i: abs(s - i) <= 0.1 * i
    )
    others = [
        value(spec, "test_normalized_loss") for spec in MTREGRESSION_SPECS if spec not in ("slaw", "ideal-constant")
    ]
    best_other = min((v for v in others if v is not None), default=None)
    claims["slaw_lowest_test_loss_non_oracle"] = claim(slaw, best_other, lambda s, o: s <= o)
    return claims


# --- runs: train, record, resume --------------------------------------------------------------


def run_sweep(
    dataset: MultiTaskDataset,
    specs: Sequence[str],
    configs: Sequence[TrainConfig],
    runs_dir: str | os.PathLike,
    *,
    progress: bool = True,
    retry_failed: bool = False,
) -> dict[str, list[dict]]:
    """Train every spec with every config (seed k = ``configs[k]``), seed by seed; spec -> run records.

    A record is ``{"method", "seed_index", "settings", "status": "ok" | "failed", "result" | "reason"}``,
    written atomically to ``runs_dir/<method>__seed<k>.json``. A file with the same settings is
    read instead of training again (failures too, unless ``retry_failed``).
    """
    if isinstance(specs, str) or not specs or len(set(specs)) != len(specs):
        raise ValueError(f"methods must be a non-empty list of distinct method specs, got {specs!r}")
    for spec in specs:
        name, hyperparameters = parse_spec(spec)
        check_method(name, method_hyperparameters(dataset, name, hyperparameters), dataset.n_tasks)
    runs: dict[str, list[dict]] = {spec: [] for spec in specs}
    jobs = [(k, spec) for k in range(len(configs)) for spec in specs]
    for k, spec in tqdm(jobs, desc=f"{dataset.name} runs", unit="run", disable=not progress):
        path = Path(runs_dir) / f"{run_file_stem(spec)}__seed{k}.json"
        settings = _run_settings(dataset, spec, configs[k])
        record = _finished_run(path, settings, retry_failed)
        if record is None:
            record = {
                "method": spec,
                "seed_index": k,
                "settings": settings,
                **_train_once(dataset, spec, configs[k], progress),
            }
            record = read_json(atomic_write_json(path, record))  # as a resumed sweep will see it
        runs[spec].append(record)
    return runs


def run_file_stem(spec: str) -> str:
    """A spec as a portable file name: ``gradnorm:alpha=0.1`` -> ``gradnorm_alpha=0.1``."""
    return re.sub(r"[^A-Za-z0-9.=+-]+", "_", spec)


def _train_once(dataset: MultiTaskDataset, spec: str, config: TrainConfig, progress: bool) -> dict:
    try:
        return {"status": "ok", "result": train(dataset, spec, config, progress=progress)}
    except TrainingDiverged as error:
        reason = f"diverged: {error}"
    except Exception as error:  # noqa: BLE001 - one failing method must not cost the others' results
        reason = f"{type(error).__name__}: {error}"
    logger.warning("%s (seed %d) failed: %s", spec, config.seed, reason)
    return {"status": "failed", "reason": reason}


def _run_settings(dataset: MultiTaskDataset, spec: str, config: TrainConfig) -> dict:
    """What makes a run the same run (compared after a JSON round trip, as read back from its file)."""
    return json_plain(
        {"dataset": dataset.name, "n_tasks": dataset.n_tasks, "method": spec, "config": dataclasses.asdict(config)}
    )


def _finished_run(path: Path, settings: dict, retry_failed: bool) -> dict | None:
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    if record.get("settings") != settings or record.get("status") not in ("ok", "failed"):
        return None
    return None if retry_failed and record["status"] == "failed" else record


def seed_configs(base: TrainConfig, seeds: int) -> list[TrainConfig]:
    if not _is_positive_int(seeds):
        raise ValueError(f"seeds must be a positive integer (the number of seeds), got {seeds!r}")
    return [base.replace(seed=base.seed + k) for k in range(seeds)]


def _failures(records: list[dict]) -> dict[str, str]:
    return {str(r["seed_index"]): r["reason"] for r in records if r["status"] == "failed"}


def _status(records: list[dict]) -> str:
    ok = any(r["status"] == "ok" for r in records)
    return "ok" if ok else f"failed: {next(r['reason'] for r in records)}"


# --- LBTW tables ------------------------------------------------------------------------------


def _load_molecules(name: str, n_tasks: int | None) -> MultiTaskDataset:
    options = {}
    if name == "pcba":
        path = pcba_file()
        if path is None:
            raise ValueError(f"the real PCBA file is not there; {PCBA_HELP}")
        options["path"] = path
    data = load_dataset(name, n_tasks, **options)
    if data.task_type != "classification":
        raise ValueError(f"reproduce_lbtw needs a classification (molecule) dataset; {name!r} is {data.task_type}")
    return data


def pcba_file() -> Path | None:
    """The user's PCBA file: ``$MTLPERF_PCBA`` if set, else ``pcba.csv.gz`` in the cache dir; None if absent."""
    try:
        return find_pcba_file(os.environ.get(PCBA_ENV) or None)
    except ValueError:
        return None


def _per_task_means(runs: dict[str, list[dict]], tasks: Sequence[str], metric: str) -> dict[str, pd.Series]:
    """Method -> test ``metric`` per task, mean over the seeds that finished (NaN: no seed scored it)."""
    means = {}
    for spec, records in runs.items():
        rows = [
            [_number(r["result"]["test"][metric].get(task)) for task in tasks] for r in records if r["status"] == "ok"
        ]
        if rows:
            means[spec] = pd.DataFrame(rows, columns=list(tasks)).mean(axis=0)
    return means


def _lbtw_row(spec: str, records: list[dict], per_task: dict, paper: dict | None) -> dict:
    row: dict[str, Any] = {
        "status": _status(records),
        "n_runs": sum(r["status"] == "ok" for r in records),
        "failed_runs": _failures(records),
    }
    for metric in LBTW_METRICS:
        ours, stl = per_task[metric].get(spec), per_task[metric].get("stl")
        row[f"mean_{metric}"] = None if ours is None else _number(ours.mean())
        row[f"nt_{metric}"] = None if ours is None or stl is None or spec == "stl" else negative_transfer(ours, stl)
    if paper is not None and spec in paper:
        row["paper"] = paper[spec]
        row["difference"] = {k: None if row[k] is None or v is None else row[k] - v for k, v in paper[spec].items()}
    return row


def _change_figure(per_task: pd.DataFrame, path: Path, label: str) -> str | None:
    """LBTW Figure 1 / S1 at ``path`` (None when STL or every other method has no results)."""
    per_task = per_task.dropna(axis=1, how="all")
    if "stl" not in per_task.columns or per_task.shape[1] < 2:
        return None
    reports.plot_change_vs_stl(per_task, path, label)
    return str(path)


def _lbtw_markdown(summary: dict, paper: dict | None) -> str:
    keys = ("mean_pr_auc", "nt_pr_auc", "mean_roc_auc", "nt_roc_auc")
    ours = {spec: {k: row[k] for k in keys} for spec, row in summary["methods"].items()}
    lines = [
        f"LBTW Table 1 / S1 on {summary['dataset']} ({summary['n_tasks']} tasks), test set at the best validation "
        f"epoch, mean over {summary['seeds']} seed(s); # NT: tasks below STL."
        + (" Beside ours: the paper's value and ours − paper." if paper is not None else ""),
        "",
        reports.table1_markdown(ours, paper).rstrip(),
    ]
    notes = [f"- `{spec}`: {row['status']}" for spec, row in summary["methods"].items() if row["status"] != "ok"]
    notes += [
        f"- `{spec}` seed {k}: failed: {reason}"
        for spec, row in summary["methods"].items()
        if row["status"] == "ok"
        for k, reason in row["failed_runs"].items()
    ]
    if "figures_skipped" in summary:
        notes.append(f"- figures not drawn: {summary['figures_skipped']}")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


# --- MTRegression tables ----------------------------------------------------------------------


def _mtregression_row(records: list[dict], log_every: int) -> dict:
    ok = [r["result"] for r in records if r["status"] == "ok"]
    row: dict[str, Any] = {"status": _status(records), "n_runs": len(ok), "failed_runs": _failures(records)}
    curves = [r["loss_weight_error"] for r in ok if r.get("loss_weight_error")]
    curve = None
    if curves:  # PCGrad has no weights, so no curve
        length = min(len(c) for c in curves)
        curve = np.mean([np.asarray(c[:length], dtype=float) for c in curves], axis=0)
    row["loss_weight_error"] = None if curve is None else curve.tolist()
    row["final_loss_weight_error"] = None if curve is None else float(curve[-1])
    row["steps_to_final_error"] = None if curve is None else steps_to_final(curve, log_every)
    for key in ("train_normalized_loss", "test_normalized_loss"):
        values = np.array([_number(r.get(key)) for r in ok], dtype=float)
        row[key] = {"mean": _number(values.mean()), "std": _number(values.std())} if values.size else None
    return row


def steps_to_final(curve: Sequence[float], log_every: int = 1) -> int:
    """The first logged step after which ``curve`` stays within 10% of its last value.

    The band is 10% of the last value or, when larger, 10% of the whole change (first - last):
    10% of an error that ends near 0 is noise, and would make a converged curve never "arrive".
    """
    curve = np.asarray(curve, dtype=float)
    band = FINAL_ERROR_TOLERANCE * max(abs(curve[-1]), abs(curve[0] - curve[-1]))
    outside = np.flatnonzero(np.abs(curve - curve[-1]) > band)
    return 0 if outside.size == 0 else int(outside[-1] + 1) * log_every


def _logged_steps(row: dict, log_every: int) -> list[int]:
    return [i * log_every for i in range(len(row["loss_weight_error"]))]


def _mtregression_markdown(summary: dict) -> str:
    lines = [
        f"SLAW Table 1 on MTRegression: normalised loss after {summary['steps']:,} steps, mean ± std over "
        f"{summary['seeds']} seed(s); loss-weight error (LWE) of the mean curve at the last step, and the step "
        f"after which it stays within 10% of that value.",
        "",
        "| method | Train NL | Test NL | final LWE | steps to final LWE |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec, row in summary["methods"].items():
        if row["status"] != "ok":
            lines.append(f"| `{spec}` | {row['status']} | – | – | – |")
            continue
        cells = [
            _mean_std(row["train_normalized_loss"]),
            _mean_std(row["test_normalized_loss"]),
            _fmt(row["final_loss_weight_error"], "{:.3g}"),
            _fmt(row["steps_to_final_error"], "{:,}"),
        ]
        lines.append(f"| `{spec}` | " + " | ".join(cells) + " |")
    lines += ["", "Paper claims on this run:"]
    lines += [
        f"- {name}: {_fmt(claim['holds'], '{}')} (ratio {_fmt(claim['value'], '{:.3g}')})"
        for name, claim in summary["claims"].items()
    ]
    lines += [
        f"- `{spec}` seed {k}: failed: {reason}"
        for spec, row in summary["methods"].items()
        if row["status"] == "ok"
        for k, reason in row["failed_runs"].items()
    ]
    return "\n".join(lines) + "\n"


# --- small helpers ----------------------------------------------------------------------------


def json_plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists)."""
    return json.loads(json.dumps(value))


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _mean_std(entry: dict | None) -> str:
    return "–" if entry is None else f"{entry['mean']:.4g} ± {entry['std']:.2g}"


def _fmt(value: Any, style: str) -> str:
    return "–" if value is None else style.format(value)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
