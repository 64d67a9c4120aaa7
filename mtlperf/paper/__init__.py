"""The papers' published tables, shipped as package data, and their loader.

Every number was copied from the papers' text (``tables/*.csv``):

- LBTW: Liu, Liang, Gitter, "Loss-Balanced Task Weighting to Reduce Negative
  Transfer in Multi-Task Learning", AAAI 2019 student abstract and appendix.
  Table 1 / S1 (``lbtw_table1_summary``), Tables S2 / S3 (``lbtw_table_s2_pr_auc``,
  ``lbtw_table_s3_roc_auc``: 128 PCBA tasks, values rounded to 3 decimals).
- SLAW: Crawshaw, Kosecka, "SLAW: Scaled Loss Approximate Weighting for Efficient
  Multi-Task Learning", section 4.3 and appendix C (``slaw_pcba_scaling_facts``).
- SGNN-EBM: Liu, Qu, Zhang, Cai, Tang, "Structured Multi-task Learning for Molecular
  Property Prediction", AISTATS 2022, Tables 1-4 (``sgnn_ebm_table*``).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

# The LBTW paper's column names and the method specs that reproduce them.
LBTW_METHODS: dict[str, str] = {
    "STL": "stl",
    "MTL": "constant",
    "FineTuning": "finetune",
    "GradNorm_a0.1": "gradnorm:alpha=0.1",
    "GradNorm_a0.5": "gradnorm:alpha=0.5",
    "RMTL": "rmtl-per-task",
    "LBTW_a0.1": "lbtw:alpha=0.1",
    "LBTW_a0.5": "lbtw:alpha=0.5",
}
LBTW_METRICS = ("pr_auc", "roc_auc")
_LBTW_PER_TASK = {"pr_auc": "lbtw_table_s2_pr_auc", "roc_auc": "lbtw_table_s3_roc_auc"}
_SGNN_EBM_TABLES = {
    1: "sgnn_ebm_table1_datasets",
    2: "sgnn_ebm_table2_roc_auc",
    3: "sgnn_ebm_table3_noise",
    4: "sgnn_ebm_table4_layers",
}


def _tables_dir():
    return resources.files(__name__).joinpath("tables")


def list_tables() -> list[str]:
    """The names of the shipped tables (file names without ``.csv``), sorted."""
    return sorted(f.name[: -len(".csv")] for f in _tables_dir().iterdir() if f.name.endswith(".csv"))


def load_table(name: str) -> pd.DataFrame:
    """One table exactly as printed, e.g. ``load_table("lbtw_table1_summary")``."""
    stem = str(name).removesuffix(".csv")
    if stem not in list_tables():
        raise ValueError(f"unknown paper table {name!r}; valid: {', '.join(list_tables())}")
    with _tables_dir().joinpath(f"{stem}.csv").open("r") as handle:
        return pd.read_csv(handle)


def lbtw_per_task(metric: str = "pr_auc") -> pd.DataFrame:
    """LBTW Table S2 (``pr_auc``) or S3 (``roc_auc``): task x method spec, e.g. column ``"stl"``."""
    if metric not in _LBTW_PER_TASK:
        raise ValueError(f"unknown LBTW metric {metric!r}; valid: {', '.join(LBTW_METRICS)}")
    table = load_table(_LBTW_PER_TASK[metric]).set_index("task")
    return table[list(LBTW_METHODS)].rename(columns=LBTW_METHODS)


def lbtw_summary() -> dict[str, dict[str, float | int | None]]:
    """LBTW Table 1 / S1 as ``spec -> {mean_pr_auc, nt_pr_auc, mean_roc_auc, nt_roc_auc}``.

    ``nt_*`` is the number of the 128 tasks with negative transfer (below STL);
    it is ``None`` for STL itself. The shape is what ``reports.table1_markdown`` takes.
    """
    table = load_table("lbtw_table1_summary").set_index("metric")
    summary = {}
    for column, spec in LBTW_METHODS.items():
        values = table[column]
        row: dict[str, float | int | None] = {}
        for metric in LBTW_METRICS:
            count = values[f"negative_transfer_{metric}"]
            row[f"mean_{metric}"] = float(values[f"mean_{metric}"])
            row[f"nt_{metric}"] = None if pd.isna(count) else int(count)
        summary[spec] = row
    return summary


def slaw_scaling_facts() -> dict[str, float | int | list[float | int]]:
    """The SLAW paper's PCBA scaling facts and settings, ``fact -> value``.

    Lists are written ``a;b;c`` in the table (e.g. ``task_counts`` -> [32, 64, 96, 128]);
    ``load_table("slaw_pcba_scaling_facts")`` gives the source of each fact.
    """
    facts = load_table("slaw_pcba_scaling_facts")
    return {fact: _number_or_list(str(value)) for fact, value in zip(facts["fact"], facts["value"])}


def sgnn_ebm_table(number: int) -> pd.DataFrame:
    """SGNN-EBM Table 1 (datasets), 2 (ROC AUC x100), 3 (noise distributions) or 4 (SGNN layers)."""
    if number not in _SGNN_EBM_TABLES:
        raise ValueError(f"SGNN-EBM has no table {number!r} here; valid: {', '.join(map(str, _SGNN_EBM_TABLES))}")
    return load_table(_SGNN_EBM_TABLES[number])


def _number_or_list(text: str) -> float | int | list[float | int]:
    if ";" in text:
        return [_number(part) for part in text.split(";")]
    return _number(text)


def _number(text: str) -> float | int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


__all__ = [
    "LBTW_METHODS",
    "LBTW_METRICS",
    "lbtw_per_task",
    "lbtw_summary",
    "list_tables",
    "load_table",
    "sgnn_ebm_table",
    "slaw_scaling_facts",
]
