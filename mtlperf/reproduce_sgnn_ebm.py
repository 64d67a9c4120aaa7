"""SGNN-EBM's study (Liu, Qu, Zhang, Cai, Tang, AISTATS 2022): Table 2, and Tables 3 and 4 as options.

Table 2: the weighting baselines (STL, MTL, UW, GradNorm, DWA, LBTW) on the GIN backbone, SGNN, and
SGNN-EBM with a fixed and an adaptive noise model (a pre-trained SGNN); mean ± std over seeds of the
test mean ROC AUC (×100) at the best validation mean ROC AUC, random 8/1/1 split (``PRESETS["sgnn-ebm"]``).
Table 3: SGNN-EBM's noise model: uniform, or fixed from each baseline (MTL, UW, GradNorm, DWA, LBTW on
GIN) or SGNN. Table 4: SGNN-EBM (adaptive) with L = 0, 2, 4 state layers. A row two tables share
(SGNN fixed in 2 and 3, L = 2 in 2 and 4) is trained once.

Every (row, seed) run goes to ``DIR/runs/<row>__seed<k>.json`` as it ends; a rerun resumes
(:func:`mtlperf.sweep.run_jobs`). On a ChEMBL-STRING directory named as the authors name theirs
(``chembl_dense_10``, ``_50``, ``_100``) with all its tasks, the paper's numbers stand beside ours.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from . import reports
from .config import PRESETS, TrainConfig
from .data import MultiTaskDataset
from .device import resolve_device
from .ebm.fit import EnergySettings, train_sgnn_ebm
from .io import atomic_write_json, atomic_write_text, json_ready
from .methods import parse_spec
from .paper import load_table
from .sweep import Job, failures, finished_results, run_jobs, run_settings, seed_configs
from .train import check_method, method_hyperparameters, train


@dataclass(frozen=True)
class Row:
    """One row of the paper's tables: a model, its weighting method, SGNN-EBM's settings, its layer count."""

    model: str  # gin | sgnn | sgnn-ebm
    method: str = "constant"  # the weighting method (gin, sgnn)
    energy: EnergySettings | None = None  # sgnn-ebm
    sgnn_layers: int | None = None  # None: the config's
    paper: tuple[str, ...] = ()  # (table, key...) of its number in the paper's tables


def _ebm(noise: str, **settings: Any) -> EnergySettings:
    return EnergySettings(noise=noise, **settings)


BASELINES = {"MTL": "constant", "UW": "uncertainty", "GradNorm": "gradnorm", "DWA": "dwa", "LBTW": "lbtw"}
ROWS: dict[str, Row] = {
    "STL": Row("gin", "stl", paper=("2", "STL", "")),
    **{name: Row("gin", spec, paper=("2", name, "")) for name, spec in BASELINES.items()},
    "SGNN": Row("sgnn", paper=("2", "SGNN", "")),
    "SGNN-EBM-fixed": Row("sgnn-ebm", energy=_ebm("fixed"), paper=("2", "SGNN-EBM", "SGNN (Fixed)")),
    "SGNN-EBM-adaptive": Row("sgnn-ebm", energy=_ebm("adaptive"), paper=("2", "SGNN-EBM", "SGNN (Adaptive)")),
    "SGNN-EBM-uniform": Row("sgnn-ebm", energy=_ebm("uniform"), paper=("3", "SGNN-EBM", "Uniform")),
    **{
        f"SGNN-EBM-fixed-{name}": Row(
            "sgnn-ebm", energy=_ebm("fixed", backbone=spec, backbone_model="gin"), paper=("3", "SGNN-EBM", name)
        )
        for name, spec in BASELINES.items()
    },
    **{
        f"SGNN-EBM-adaptive-L{layers}": Row(
            "sgnn-ebm", energy=_ebm("adaptive"), sgnn_layers=layers, paper=("4", str(layers))
        )
        for layers in (0, 4)
    },
}
TABLES = {
    2: ("STL", *BASELINES, "SGNN", "SGNN-EBM-fixed", "SGNN-EBM-adaptive"),
    3: ("SGNN-EBM-uniform", *(f"SGNN-EBM-fixed-{name}" for name in BASELINES), "SGNN-EBM-fixed"),
    4: ("SGNN-EBM-adaptive-L0", "SGNN-EBM-adaptive", "SGNN-EBM-adaptive-L4"),
}
PAPER_DATASET = re.compile(r"chembl_dense_(10|50|100)")
CLAIMS = (  # the paper's reading of Table 2: (better row, worse row or the best of several)
    ("SGNN above the weighting baselines", "SGNN", tuple(BASELINES)),
    ("SGNN-EBM (fixed) above SGNN", "SGNN-EBM-fixed", ("SGNN",)),
    ("adaptive noise above fixed", "SGNN-EBM-adaptive", ("SGNN-EBM-fixed",)),
)


def reproduce_sgnn_ebm(
    dataset: MultiTaskDataset,
    seeds: int,
    out_dir: str | os.PathLike,
    *,
    tables: Sequence[int] = (2,),
    rows: Sequence[str] | None = None,
    base: TrainConfig = PRESETS["sgnn-ebm"],
    device: str = "auto",
    progress: bool = True,
    retry_failed: bool = False,
    client=None,
) -> dict:
    """The rows of ``tables`` (or the named ``rows``) on ``dataset`` over ``seeds`` seeds; ``table.json`` / ``.md``.

    ``dataset``: molecular graphs with a task graph (ToxCast, Tox21, their densified sets, a ChEMBL-STRING
    directory). ``base``: the settings every row shares (the paper's by default; a shorter preset on CPU).
    ``client``: a Dask client to run the runs on. Returns the ``table.json`` dict.
    """
    names = study_rows(tables, rows)
    base = base.replace(device=str(resolve_device(device)))
    for name in names:  # every row checked before the first trains
        row = ROWS[name]
        if row.model != "sgnn-ebm":
            method, hyperparameters = parse_spec(row.method)
            check_method(method, method_hyperparameters(dataset, method, hyperparameters), dataset.n_tasks)
    jobs = [_job(dataset, name, k, config) for k, config in enumerate(seed_configs(base, seeds)) for name in names]
    runs = run_jobs(
        jobs,
        Path(out_dir) / "runs",
        desc=f"{dataset.name} rows",
        progress=progress,
        retry_failed=retry_failed,
        client=client,
    )
    paper = paper_columns(dataset)
    summary = {
        "dataset": dataset.name,
        "n_tasks": dataset.n_tasks,
        "n_molecules": len(dataset),
        "seeds": seeds,
        "config": json_ready(dataclasses.asdict(base)),
        "compared_with_paper": paper is not None,
        "rows": {name: _row_summary(name, runs[name], paper) for name in names},
    }
    summary["claims"] = claims(summary["rows"])
    out = Path(out_dir)
    atomic_write_text(out / "table.md", reports.sgnn_ebm_markdown(summary))
    atomic_write_json(out / "table.json", summary)
    return summary


def paper_columns(dataset: MultiTaskDataset) -> str | None:
    """The paper's column for this data (``chembl_string_10``...), or None when it is not the paper's data."""
    match = PAPER_DATASET.fullmatch(dataset.name)
    if match is None:
        return None
    threshold = int(match.group(1))
    sizes = load_table("sgnn_ebm_table1_datasets").set_index("threshold")
    return f"chembl_string_{threshold}" if dataset.n_tasks == sizes.loc[threshold, "tasks"] else None


def paper_value(row: Row, column: str) -> dict[str, float] | None:
    """The paper's mean and std (ROC AUC ×100) of ``row`` in ``column``."""
    if not row.paper:
        return None
    table, *key = row.paper
    frame = load_table(
        {"2": "sgnn_ebm_table2_roc_auc", "3": "sgnn_ebm_table3_noise", "4": "sgnn_ebm_table4_layers"}[table]
    )
    if table == "4":
        match = frame[frame["sgnn_layers"] == int(key[0])]
    else:
        match = frame[(frame["method"] == key[0]) & (frame["noise_distribution"].fillna("") == key[1])]
    if match.empty:
        return None
    return {"mean": float(match[f"{column}_mean"].iloc[0]), "std": float(match[f"{column}_std"].iloc[0])}


def claims(rows: dict[str, dict]) -> dict[str, dict]:
    """Each claim of :data:`CLAIMS` whose rows ran, against the best of its rivals.

    Seed k of every row trains on the same split, so the difference of means (×100) gets the standard
    error of the per-seed differences (unpaired when a seed failed in either row). The verdict: ``holds``
    beyond two standard errors, ``reversed`` below minus two, else ``unresolved``.
    """
    out = {}
    for claim, better, others in CLAIMS:
        ran = [name for name in (better, *others) if name in rows and rows[name]["n_seeds"]]
        if better not in ran or len(ran) < 2:
            continue
        rival = max((name for name in ran if name != better), key=lambda name: rows[name]["roc_auc"]["mean"])
        a, b = (rows[name]["roc_auc"]["seeds"] for name in (better, rival))
        paired = len(a) == len(b) > 1 and not rows[better]["failures"] and not rows[rival]["failures"]
        difference = statistics.fmean(a) - statistics.fmean(b)
        if paired:
            error = statistics.stdev(x - y for x, y in zip(a, b)) / math.sqrt(len(a))
        else:
            error = math.sqrt(sum(statistics.variance(v) / len(v) if len(v) > 1 else math.inf for v in (a, b)))
        verdict = "holds" if difference > 2 * error else "reversed" if difference < -2 * error else "unresolved"
        out[claim] = {
            "row": better,
            "against": rival,
            "difference": difference,
            "error": error,
            "paired": paired,
            "verdict": verdict,
        }
    return out


def study_rows(tables: Sequence[int], rows: Sequence[str] | None = None) -> list[str]:
    """The row names of ``tables`` in table order (a shared row once), or ``rows`` checked."""
    if rows is not None:
        unknown = [name for name in rows if name not in ROWS]
        if unknown or not rows:
            raise ValueError(f"unknown rows {unknown or 'none'}; valid: {', '.join(ROWS)}")
        return list(dict.fromkeys(rows))
    unknown = [t for t in tables if t not in TABLES]
    if unknown or not tables:
        raise ValueError(f"unknown tables {unknown or 'none'}; valid: {', '.join(map(str, TABLES))}")
    return list(dict.fromkeys(name for table in sorted(tables) for name in TABLES[table]))


def _job(dataset: MultiTaskDataset, name: str, seed_index: int, config: TrainConfig) -> Job:
    row = ROWS[name]
    config = config.replace(model=row.model)
    if row.sgnn_layers is not None:
        config = config.replace(sgnn_layers=row.sgnn_layers)
    settings = run_settings(dataset, row.method if row.energy is None else "sgnn-ebm", config)
    settings["energy"] = None if row.energy is None else json_ready(dataclasses.asdict(row.energy))
    if row.energy is None:
        fit = partial(train, dataset, row.method, config, progress=False)
    else:
        fit = partial(train_sgnn_ebm, dataset, config, row.energy, progress=False)
    return Job(name, seed_index, settings, fit)


def _row_summary(name: str, records: list[dict], paper: str | None) -> dict:
    results = finished_results(records)
    values = [100 * r["test"]["mean_roc_auc"] for r in results]
    return {
        "n_seeds": len(values),
        "roc_auc": {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0 if values else None,
            "seeds": values,
        },
        "valid_roc_auc": [100 * r["valid"]["mean_roc_auc"] for r in results],
        "seconds": [r["seconds"] for r in results if "seconds" in r],
        "failures": failures(records),
        "paper": None if paper is None else paper_value(ROWS[name], paper),
    }
