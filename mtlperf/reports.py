"""Figures and markdown tables from result files (or their dicts), never by training.

The layouts are the papers': SLAW (Crawshaw, Kosecka) Figure 1, loss-weight error
during training, and Figure 2, step time and AP against the task count; LBTW
(Liu, Liang, Gitter 2019) Figure 1 / S1, the change of each task against STL, and
Table 1 / S1, mean metric and negative-transfer counts. Figures are drawn on plain
matplotlib ``Figure`` objects (Agg canvas), never through pyplot: nothing opens a
window and nothing piles up in global state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

DPI = 150
PANEL_SIZE = (6.4, 4.4)  # inches, one panel of a scaling or loss-weight-error figure
LEGEND_WIDTH = 2.0  # inches added on the right for the legend of those figures
CHANGE_SIZE = (9.0, 5.0)  # inches, the change-vs-STL figure
_STEP_KEYS = ("median", "min", "max")
_AP_KINDS = {"pooled": ("pooled AP", "-"), "per_task_mean": ("per-task mean AP", "--")}
# Table 1 / S1 columns: key -> (header, value format, difference format)
_TABLE1_COLUMNS = {
    "mean_pr_auc": ("Mean PR AUC", "{:.3f}", "{:+.3f}"),
    "nt_pr_auc": ("# NT (PR AUC)", "{:.0f}", "{:+.0f}"),
    "mean_roc_auc": ("Mean ROC AUC", "{:.3f}", "{:+.3f}"),
    "nt_roc_auc": ("# NT (ROC AUC)", "{:.0f}", "{:+.0f}"),
}
_TABLE1_KEYS = tuple(_TABLE1_COLUMNS)
_MISSING = "–"


def plot_scaling(scaling: Mapping[str, Any], path: str | Path) -> Path:
    """SLAW Figure 2: time per training step against task count, one line per method.

    Medians with a min-max band on a log scale; when results carry ``fraction_of_gemm_peak`` a
    panel shows it (% of the dense-GEMM peak), and when they carry ``mean_ap`` a panel shows AP
    against task count (pooled solid, per-task mean dashed).
    """
    series = _scaling_series(scaling)
    ap_series = {label: rows for label, rows in series.items() if any("mean_ap" in r for r in rows)}
    rate_series = {label: rows for label, rows in series.items() if any(_UTILISATION in r for r in rows)}
    n_panels = 1 + bool(rate_series) + bool(ap_series)
    fig = Figure(figsize=(PANEL_SIZE[0] * n_panels + LEGEND_WIDTH, PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    task_counts = sorted({r["n_tasks"] for rows in series.values() for r in rows})
    colors = _colors(series)

    time_axis = axes[0]
    for label, rows in series.items():
        n = [r["n_tasks"] for r in rows]
        median, low, high = (np.array([r["step_time_s"][k] for r in rows], dtype=float) for k in _STEP_KEYS)
        style = "--" if _is_loop_of_another(label, series) else "-"
        time_axis.plot(n, median, style, color=colors[label], marker="o", markersize=4, label=label)
        time_axis.fill_between(n, low, high, color=colors[label], alpha=0.2, linewidth=0)
    _log_y(time_axis)
    time_axis.set_ylabel("time per training step (s)")
    time_axis.set_title("Step time (median; band: min–max)", fontsize=10)

    if rate_series:
        rate_axis = axes[1]
        for label, rows in rate_series.items():
            points = [(r["n_tasks"], 100 * r[_UTILISATION]) for r in rows if _UTILISATION in r]
            style = "--" if _is_loop_of_another(label, series) else "-"
            rate_axis.plot(*zip(*points), style, color=colors[label], marker="o", markersize=4)
        rate_axis.set_ylim(bottom=0)
        rate_axis.set_ylabel("% of the dense-GEMM peak")
        rate_axis.set_title("Achieved rate on the step's counted work", fontsize=10)
    if ap_series:
        _draw_ap(axes[-1], ap_series, colors)

    for axis in axes:
        axis.set_xlabel("number of tasks")
        axis.set_xticks(task_counts)
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = time_axis.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="method", title_fontsize=8)
    fig.suptitle(_scaling_title(scaling).replace(" on ", "\non ", 1), fontsize=11, x=0.02, ha="left")
    return _save(fig, path)


def plot_accuracy_vs_tasks(accuracy: Mapping[str, Any], path: str | Path) -> Path:
    """SLAW Figure 2's accuracy panel alone: test AP against task count per method (``accuracy.json``)."""
    _require(accuracy, ("dataset", "results"), "accuracy")
    series: dict[str, list[dict]] = {}
    for r in accuracy["results"]:
        if r.get("status") == "ok":
            ap = {"pooled": r["pooled_pr_auc"]["mean"], "per_task_mean": r["mean_pr_auc"]["mean"]}
            series.setdefault(str(r["method"]), []).append({"n_tasks": r["n_tasks"], "mean_ap": ap})
    if not series:
        raise ValueError("accuracy has no finished result to draw")
    series = {label: sorted(rows, key=lambda r: r["n_tasks"]) for label, rows in series.items()}
    fig = Figure(figsize=(PANEL_SIZE[0] + LEGEND_WIDTH, PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    axis = fig.subplots()
    colors = _colors(series)
    _draw_ap(axis, series, colors)
    for label in series:
        axis.plot([], [], color=colors[label], marker="o", markersize=4, label=label)
    axis.set_xlabel("number of tasks")
    axis.set_xticks(sorted({r["n_tasks"] for rows in series.values() for r in rows}))
    axis.grid(True, which="both", alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8, title="method", title_fontsize=8)
    fig.suptitle(
        f"Test AP against task count on {accuracy['dataset']}, mean over {accuracy.get('seeds', '?')} seed(s)",
        fontsize=11,
        x=0.02,
        ha="left",
    )
    return _save(fig, path)


def _draw_ap(axis, series: Mapping[str, list[dict]], colors: Mapping[str, Any]) -> None:
    """AP against task count: pooled AP solid, per-task mean AP dashed, one color per method."""
    kinds_drawn = set()
    for label, rows in series.items():
        for kind, (_, style) in _AP_KINDS.items():
            points = [(r["n_tasks"], r["mean_ap"][kind]) for r in rows if r.get("mean_ap", {}).get(kind) is not None]
            if points:
                kinds_drawn.add(kind)
                axis.plot(*zip(*points), style, marker="o", markersize=4, color=colors[label])
    axis.set_title("Average precision", fontsize=10)
    if len(kinds_drawn) == 1:
        axis.set_ylabel(f"{_AP_KINDS[kinds_drawn.pop()][0]} on the test set")
    else:
        axis.set_ylabel("AP on the test set")
        axis.legend(
            [_line(style) for kind, (_, style) in _AP_KINDS.items() if kind in kinds_drawn],
            [name for kind, (name, _) in _AP_KINDS.items() if kind in kinds_drawn],
            fontsize=8,
        )


def scaling_markdown(scaling: Mapping[str, Any]) -> str:
    """Method x task count tables: median step time (ms) with growth 32->128, ratio to constant, peak memory."""
    series = _scaling_series(scaling, extra_keys=("ratio_to_constant", "peak_memory_bytes"))
    task_counts = sorted({r["n_tasks"] for rows in series.values() for r in rows})
    growth = scaling.get("growth_32_to_128") or {}

    def table(title: str, cell, with_growth: bool = False) -> list[str]:
        header = ["method", *(f"{n} tasks" for n in task_counts)] + (["growth 32→128"] if with_growth else [])
        lines = [f"**{title}**", "", _md_row(header), _md_row(["---"] * len(header))]
        for label, rows in series.items():
            by_n = {r["n_tasks"]: r for r in rows}
            row = [f"`{label}`", *(cell(by_n[n]) if n in by_n else _MISSING for n in task_counts)]
            if with_growth:
                row.append(_fmt(_growth(growth, label, rows), "{:.2f}×"))
            lines.append(_md_row(row))
        return lines + [""]

    measured_growth = any(_growth(growth, label, rows) is not None for label, rows in series.items())
    lines = [_scaling_title(scaling) + ".", ""]
    lines += table("Median time per training step (ms)", lambda r: _fmt_ms(r["step_time_s"]["median"]), measured_growth)
    lines += table("Ratio to `constant` at the same task count", lambda r: _fmt(r["ratio_to_constant"], "{:.2f}×"))
    lines += table("Peak memory (MiB)", lambda r: _fmt(_mib(r["peak_memory_bytes"]), "{:,.1f}"))
    if any("peak_memory_repeats" in r for rows in series.values() for r in rows):
        lines += table("Peak memory over the builds, min–max (MiB)", _memory_spread)
    peak = scaling.get("gemm_peak")
    if peak is not None and any(_UTILISATION in r for rows in series.values() for r in rows):
        lines += table("Work per step (GFLOP: counted matrix products + embedding bags)", _gflop)
        lines += table(
            f"Achieved rate, % of the dense-GEMM peak ({peak['flops_per_s'] / 1e9:,.1f} GFLOP/s: "
            f"{peak['dtype']} {peak['size']}² products, {peak['threads']} threads, measured in this run)",
            lambda r: _fmt(100 * r[_UTILISATION] if _UTILISATION in r else None, "{:.1f}%"),
        )
    return "\n".join(lines).rstrip() + "\n"


def plot_change_vs_stl(per_task: pd.DataFrame, path: str | Path, metric_label: str = "PR AUC") -> dict[str, int]:
    """LBTW Figure 1 / S1: per method, the distribution over tasks of (method - STL).

    ``per_task`` is task x method with an ``stl`` column (e.g. ``mtlperf.paper.lbtw_per_task()``).
    Returns, and prints above each box, the number of tasks below zero (negative transfer).
    """
    if not isinstance(per_task, pd.DataFrame):
        raise ValueError(f"per_task must be a pandas DataFrame (task x method), got {type(per_task).__name__}")
    if "stl" not in per_task.columns:
        raise ValueError(f"per_task has no 'stl' column; columns: {', '.join(map(str, per_task.columns))}")
    methods = [m for m in per_task.columns if m != "stl"]
    if not methods:
        raise ValueError("per_task has only the 'stl' column; add at least one method column to compare")
    changes = {}
    for method in methods:
        change = (per_task[method] - per_task["stl"]).dropna().to_numpy(dtype=float)
        if change.size == 0:
            raise ValueError(f"method {method!r} has no task with both its value and an stl value")
        changes[method] = change
    below_zero = {method: int((change < 0).sum()) for method, change in changes.items()}

    fig = Figure(figsize=CHANGE_SIZE, dpi=DPI, layout="constrained")
    axis = fig.subplots()
    positions = np.arange(1, len(methods) + 1)
    axis.boxplot(
        list(changes.values()),
        positions=positions,
        widths=0.55,
        showfliers=False,
        medianprops={"color": "black"},
        boxprops={"color": "0.35"},
        whiskerprops={"color": "0.35"},
        capprops={"color": "0.35"},
    )
    jitter = np.random.default_rng(0)  # fixed: the same inputs always give the same picture
    for position, change in zip(positions, changes.values()):
        x = position + jitter.uniform(-0.18, 0.18, change.size)
        axis.scatter(x, change, s=9, alpha=0.45, color=np.where(change < 0, "tab:red", "tab:blue"), linewidths=0)
    axis.axhline(0.0, color="crimson", linestyle="--", linewidth=1)
    for position, method in zip(positions, methods):
        axis.annotate(
            f"{below_zero[method]} below 0",
            (position, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axis.set_xticks(positions, [str(m) for m in methods], rotation=25, ha="right", fontsize=9)
    axis.set_xlim(0.4, len(methods) + 0.6)
    axis.set_ylabel(f"{metric_label}: method − STL")
    axis.grid(True, axis="y", alpha=0.3)
    n_tasks = max(change.size for change in changes.values())
    fig.suptitle(
        f"Change in {metric_label} relative to STL over {n_tasks} tasks (above each box: tasks with negative transfer)",
        fontsize=11,
    )
    _save(fig, path)
    return below_zero


def table1_markdown(ours: Mapping[str, Mapping[str, Any]], paper: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """LBTW Table 1 / S1: per method the mean PR/ROC AUC and the negative-transfer counts.

    ``ours`` (and ``paper``, e.g. ``mtlperf.paper.lbtw_summary()``) map method ->
    ``{mean_pr_auc, nt_pr_auc, mean_roc_auc, nt_roc_auc}``; a count may be None (STL).
    With ``paper`` each value is followed by the paper's and the difference ours - paper.
    """
    _require_table1(ours, "ours")
    if paper is not None:
        _require_table1(paper, "paper")
    header = ["method"]
    for title, _, _ in _TABLE1_COLUMNS.values():
        header += [title] + (["paper", "Δ"] if paper is not None else [])
    lines = [_md_row(header), _md_row(["---"] * len(header))]
    for method, values in ours.items():
        row = [f"`{method}`"]
        for key, (_, style, difference_style) in _TABLE1_COLUMNS.items():
            row.append(_fmt(values[key], style))
            if paper is not None:
                theirs = paper.get(method, {}).get(key)
                row += [_fmt(theirs, style), _fmt(_difference(values[key], theirs), difference_style)]
        lines.append(_md_row(row))
    return "\n".join(lines) + "\n"


def lbtw_markdown(summary: dict, paper: dict | None) -> str:
    """The ``table1.md`` of a :func:`mtlperf.reproduce.reproduce_lbtw` summary (the paper beside it if given)."""
    keys = ("mean_pr_auc", "nt_pr_auc", "mean_roc_auc", "nt_roc_auc")
    ours = {spec: {k: row[k] for k in keys} for spec, row in summary["methods"].items()}
    lines = [
        f"LBTW Table 1 / S1 on {summary['dataset']} ({summary['n_tasks']} tasks), test set at the best validation "
        f"epoch, mean over {summary['seeds']} seed(s); # NT: tasks below STL."
        + (" Beside ours: the paper's value and ours − paper." if paper is not None else ""),
        "",
        table1_markdown(ours, paper).rstrip(),
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


def mtregression_markdown(summary: dict) -> str:
    """The ``table1.md`` of a :func:`mtlperf.reproduce.reproduce_mtregression` summary."""
    lines = [
        f"SLAW Table 1 on MTRegression: normalised loss after {summary['steps']:,} steps, mean ± std over "
        f"{summary['seeds']} seed(s); loss-weight error (LWE) of the mean curve at the last step, and the step "
        f"after which it has made 90% of its total change and stays there. Methods by spec: the study's defaults "
        f"run the baselines as the SLAW authors' code did.",
        "",
        "| method | Train NL | Test NL | final LWE | steps to settle (90% of the LWE change) |",
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
            _fmt(row["steps_to_settle"], "{:,}"),
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


def densify_markdown(name: str, ours: list[dict], paper: pd.DataFrame) -> str:
    """Our densified statistics of ``name`` beside SGNN-EBM Table 1 (ChEMBL-STRING) at the same thresholds."""
    by_threshold = {int(row.threshold): row for row in paper.itertuples()}
    lines = [
        f"Densified {name} (SGNN-EBM appendix A.3: isolated tasks dropped, then molecules and tasks with fewer "
        f"than τ labels, and tasks with fewer than 10 positives or negatives), beside the paper's ChEMBL-STRING.",
        "",
        _md_row(["τ", "molecules", "tasks", "labelled %", "paper molecules", "paper tasks", "paper sparsity %"]),
        _md_row(["---"] * 7),
    ]
    for row in ours:
        theirs = by_threshold.get(row["threshold"])
        paper_cells = (
            [_MISSING] * 3
            if theirs is None
            else [f"{theirs.molecules:,}", f"{theirs.tasks:,}", f"{theirs.sparsity_pct:.2f}"]
        )
        lines.append(
            _md_row(
                [
                    str(row["threshold"]),
                    f"{row['molecules']:,}",
                    f"{row['tasks']:,}",
                    _fmt(row["labelled_pct"], "{:.2f}"),
                    *paper_cells,
                ]
            )
        )
    return "\n".join(lines) + "\n"


def accuracy_markdown(summary: dict) -> str:
    """The ``accuracy.md`` of a :func:`mtlperf.accuracy.accuracy_sweep` summary."""
    lines = [
        f"Test accuracy on {summary['dataset']} against the number of tasks ({summary['preset']} preset, "
        f"{summary['device_name']}, torch {summary['torch']}); mean ± std over {summary['seeds']} seed(s), "
        f"test set at the best validation epoch.",
        "",
        "| method | tasks | mean PR AUC | pooled AP | mean ROC AUC |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in summary["results"]:
        if r["status"] != "ok":
            lines.append(f"| `{r['method']}` | {r['n_tasks']} | {r['status']} | – | – |")
            continue
        cells = [f"{r[m]['mean']:.3f} ± {r[m]['std']:.3f}" for m in ("mean_pr_auc", "pooled_pr_auc", "mean_roc_auc")]
        lines.append(f"| `{r['method']}` | {r['n_tasks']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_loss_weight_error(curves: Mapping[str, Any], path: str | Path, max_step: int = 2000) -> Path:
    """SLAW Figure 1: loss-weight error against training step (log scale), up to ``max_step``.

    ``curves`` maps method -> list of (step, error). Zero errors cannot be drawn on a
    log scale; a method whose error is zero throughout is named in the legend.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict: method -> list of (step, error)")
    fig = Figure(figsize=(PANEL_SIZE[0] + LEGEND_WIDTH, PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    axis = fig.subplots()
    for method, points in curves.items():
        array = np.asarray(points, dtype=float)
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
            raise ValueError(f"curve of {method!r} must be a non-empty list of (step, error) pairs")
        array = array[array[:, 0] <= max_step]
        error = np.where(array[:, 1] > 0, array[:, 1], np.nan)
        label = str(method) if np.isfinite(error).any() else f"{method} (error 0, not drawn)"
        axis.plot(array[:, 0], error, label=label, linewidth=1.4)
    _log_y(axis)
    axis.set_xlim(0, max_step)
    axis.set_xlabel("training step")
    axis.set_ylabel("loss weight error")
    axis.grid(True, which="both", alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8, title="method", title_fontsize=8)
    axis.set_title(f"Loss weight error during the first {max_step:,} training steps", fontsize=11)
    return _save(fig, path)


_UTILISATION = "fraction_of_gemm_peak"


def _memory_spread(result: Mapping[str, Any]) -> str:
    values = [_mib(m) for m in result.get("peak_memory_repeats") or [] if m is not None]
    return f"{min(values):,.0f}–{max(values):,.0f}" if values else _MISSING


def _gflop(result: Mapping[str, Any]) -> str:
    flops = result.get("flops_per_step")
    return _MISSING if flops is None else f"{flops['total'] / 1e9:,.2f}"


def _scaling_series(scaling: Mapping[str, Any], extra_keys: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Validated results grouped by line label, each sorted by task count."""
    _require(scaling, ("device", "batch_size", "results"), "scaling")
    results = scaling["results"]
    if not isinstance(results, list) or not results:
        raise ValueError("scaling['results'] must be a non-empty list of measured cases")
    for i, result in enumerate(results):
        _require(result, ("method", "n_tasks", "step_time_s", *extra_keys), f"scaling['results'][{i}]")
        _require(result["step_time_s"], _STEP_KEYS, f"scaling['results'][{i}]['step_time_s']")
        low, median, high = (result["step_time_s"][k] for k in ("min", "median", "max"))
        if not 0 < low <= median <= high:
            raise ValueError(
                f"scaling['results'][{i}]['step_time_s'] needs 0 < min <= median <= max, "
                f"got min={low}, median={median}, max={high}"
            )
        ap = result.get("mean_ap")
        if ap is not None and not (isinstance(ap, Mapping) and ap and set(ap) <= set(_AP_KINDS)):
            raise ValueError(
                f"scaling['results'][{i}]['mean_ap'] must be a dict with {' and/or '.join(_AP_KINDS)}, got {ap!r}"
            )
    implementations: dict[str, set] = {}
    for result in results:
        implementations.setdefault(result["method"], set()).add(result.get("implementation"))
    series: dict[str, list[dict]] = {}
    for result in results:
        label = str(result["method"])
        if len(implementations[result["method"]]) > 1:
            label += f" ({result.get('implementation')})"
        rows = series.setdefault(label, [])
        if any(r["n_tasks"] == result["n_tasks"] for r in rows):
            raise ValueError(f"scaling has two results for {label!r} at {result['n_tasks']} tasks")
        rows.append({k: v for k, v in result.items() if k != "mean_ap" or v is not None})
    return {label: sorted(rows, key=lambda r: r["n_tasks"]) for label, rows in series.items()}


def _growth(growth: Mapping[str, Any], label: str, rows: list[dict]) -> float | None:
    """The file's growth 32->128 of a spec; when one spec was timed with several
    implementations that number is ambiguous, so the line's own medians give it."""
    method = rows[0]["method"]
    if label == str(method):
        return growth.get(method)
    by_n = {r["n_tasks"]: r["step_time_s"]["median"] for r in rows}
    return by_n[128] / by_n[32] if 32 in by_n and 128 in by_n else None


def _scaling_title(scaling: Mapping[str, Any]) -> str:
    name = scaling.get("device_name") or scaling["device"]
    torch_version = f", torch {scaling['torch']}" if scaling.get("torch") else ""
    return (
        f"Step time against task count on {name} ({scaling['device']}), "
        f"batch size {scaling['batch_size']:,}{torch_version}"
    )


def _require(mapping: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where} must be a dict with keys {', '.join(keys)}; got {type(mapping).__name__}")
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ValueError(f"{where} is missing {', '.join(missing)} (needs {', '.join(keys)})")


def _require_table1(table: Any, where: str) -> None:
    if not isinstance(table, Mapping) or not table:
        raise ValueError(f"{where} must be a non-empty dict: method -> {{{', '.join(_TABLE1_KEYS)}}}")
    for method, values in table.items():
        _require(values, _TABLE1_KEYS, f"{where}[{method!r}]")


def _colors(series: Mapping[str, Any]) -> dict[str, Any]:
    """One color per method; a loop implementation takes its batched sibling's (and is drawn dashed)."""
    own = [label for label in series if not _is_loop_of_another(label, series)]
    palette = matplotlib.colormaps["tab10" if len(own) <= 10 else "tab20"].colors
    colors = {label: palette[i % len(palette)] for i, label in enumerate(own)}
    return {label: colors.get(label) or colors[_batched_sibling(label)] for label in series}


def _is_loop_of_another(label: str, series: Mapping[str, Any]) -> bool:
    return _batched_sibling(label) != label and _batched_sibling(label) in series


def _batched_sibling(label: str) -> str:
    """``gradnorm:alpha=0.5,implementation=loop`` -> ``gradnorm:alpha=0.5``; other labels unchanged."""
    name, _, options = label.partition(":")
    options = options.split(",")
    if "implementation=loop" not in options:
        return label
    kept = [option for option in options if option != "implementation=loop"]
    return f"{name}:{','.join(kept)}" if kept else name


def _log_y(axis) -> None:
    """Log-scale y with plain-number tick labels (0.2, 0.5, 1, 2, ...) that a reader can use."""
    axis.set_yscale("log")
    low, high = axis.get_ylim()
    # Within one decade a log locator finds one tick or none; evenly rounded values read better there.
    axis.yaxis.set_major_locator(MaxNLocator(6) if high / low < 10 else LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(NullFormatter())


def _line(style: str) -> Line2D:
    return Line2D([], [], color="0.3", linestyle=style)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any, style: str) -> str:
    return _MISSING if _is_missing(value) else style.format(value)


def _mean_std(entry: Mapping[str, Any] | None) -> str:
    return _MISSING if entry is None else f"{entry['mean']:.4g} ± {entry['std']:.2g}"


def _fmt_ms(seconds: Any) -> str:
    """Milliseconds to three significant digits (whole milliseconds from 100 ms up)."""
    if _is_missing(seconds):
        return _MISSING
    ms = 1000.0 * seconds
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def _mib(n_bytes: Any) -> float | None:
    return None if _is_missing(n_bytes) else n_bytes / 2**20


def _difference(ours: Any, theirs: Any) -> float | None:
    return None if _is_missing(ours) or _is_missing(theirs) else ours - theirs


def sgnn_ebm_markdown(summary: dict) -> str:
    """The ``table.md`` of a :func:`mtlperf.reproduce_sgnn_ebm.reproduce_sgnn_ebm` summary."""
    config = summary["config"]
    paper = summary["compared_with_paper"]
    lines = [
        f"SGNN-EBM Tables 2-4 on {summary['dataset']} ({summary['n_molecules']:,} molecules, {summary['n_tasks']} "
        f"tasks): test mean ROC AUC ×100 at the best validation mean ROC AUC, mean ± std over the seeds that "
        f"finished (of {summary['seeds']}); {config['epochs']} epochs, batch {config['batch_size']}, split "
        f"{'/'.join(f'{f:g}' for f in config['fractions'])}.",
        "",
        "| row | ROC AUC | seeds |" + (" paper | ours − paper |" if paper else ""),
        "| --- | --- | --- |" + (" --- | --- |" if paper else ""),
    ]
    for name, row in summary["rows"].items():
        auc = row["roc_auc"]
        cells = [
            f"`{name}`",
            "–" if auc["mean"] is None else f"{auc['mean']:.2f} ± {auc['std']:.2f}",
            str(row["n_seeds"]),
        ]
        if paper:
            theirs = row["paper"]
            cells.append("–" if theirs is None else f"{theirs['mean']:.2f} ± {theirs['std']:.2f}")
            both = theirs is not None and auc["mean"] is not None
            cells.append(f"{auc['mean'] - theirs['mean']:+.2f}" if both else "–")
        lines.append("| " + " | ".join(cells) + " |")
    if summary["claims"]:
        lines += [
            "",
            "The paper's claims on this run (difference of means ± the standard error of the per-seed "
            "differences, seed k of each row on the same split; a claim holds beyond two standard errors, is "
            "reversed below minus two, else these seeds do not resolve it):",
        ]
        lines += [
            f"- {claim}: {c['verdict']} ({c['row']} − {c['against']}: {c['difference']:+.2f} ± {c['error']:.2f})"
            for claim, c in summary["claims"].items()
        ]
    lines += [
        f"- `{name}` seed {k}: failed: {reason}"
        for name, row in summary["rows"].items()
        for k, reason in row["failures"].items()
    ]
    return "\n".join(lines) + "\n"
