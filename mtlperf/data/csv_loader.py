"""Reading a DeepChem-layout multi-task CSV: ``smiles``, optional ``mol_id``, one column per task.

Columns are found by name, in any order; every column other than ``smiles`` and
``mol_id`` is a task. Labels are 0, 1 or blank (missing, stored as NaN).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .subsets import check_n_tasks

SMILES_COLUMN = "smiles"
ID_COLUMN = "mol_id"
_MISSING = ["", "nan", "NaN", "NA", "N/A"]


@dataclass
class TaskTable:
    """What a multi-task CSV holds, before featurisation."""

    smiles: list[str]
    mol_ids: list[str] | None
    task_names: list[str]
    labels: np.ndarray  # float32 [N, T], NaN = missing


def _find(columns: Sequence[str], name: str) -> str | None:
    """The column called ``name`` (exact, else ignoring case and surrounding spaces)."""
    if name in columns:
        return name
    return next((c for c in columns if c.strip().lower() == name), None)


def _compression(path: Path) -> str | None:
    """'gzip' when the file starts with the gzip magic bytes, whatever its name."""
    with open(path, "rb") as handle:
        return "gzip" if handle.read(2) == b"\x1f\x8b" else None


def read_header(path: str | os.PathLike) -> tuple[str, str | None, list[str]]:
    """(smiles column, mol_id column or None, task columns in file order) of a CSV."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    columns = [str(c) for c in pd.read_csv(path, nrows=0, compression=_compression(path)).columns]
    smiles_col, id_col = _find(columns, SMILES_COLUMN), _find(columns, ID_COLUMN)
    if smiles_col is None:
        shown = ", ".join(columns[:8]) + (" ..." if len(columns) > 8 else "")
        raise ValueError(f"{path}: no 'smiles' column (found: {shown})")
    return smiles_col, id_col, [c for c in columns if c not in (smiles_col, id_col)]


def read_task_csv(
    path: str | os.PathLike, n_tasks: int | None = None, task_names: Sequence[str] | None = None
) -> TaskTable:
    """Read ``path`` (plain or .gz). ``n_tasks=K`` keeps the first K task columns.

    ``task_names`` demands exactly these task columns and returns them in this order
    (e.g. PCBA's 128 tasks); a file missing some is an error naming them.
    """
    path = Path(path)
    smiles_col, id_col, tasks = read_header(path)
    if task_names is not None:
        tasks = match_task_names(path, tasks, task_names)
    tasks = tasks[: check_n_tasks(str(path), n_tasks, len(tasks))]

    keep = [smiles_col] + ([id_col] if id_col else []) + tasks
    frame = pd.read_csv(
        path,
        compression=_compression(path),
        usecols=keep,
        dtype={smiles_col: str, **({id_col: str} if id_col else {})},
        keep_default_na=False,
        na_values={task: _MISSING for task in tasks},
    )
    labels = np.empty((len(frame), len(tasks)), dtype=np.float32)
    for j, task in enumerate(tasks):
        labels[:, j] = _labels(path, task, frame[task])
    return TaskTable(
        smiles=frame[smiles_col].fillna("").str.strip().tolist(),
        mol_ids=frame[id_col].tolist() if id_col else None,
        task_names=tasks,
        labels=labels,
    )


def _labels(path: Path, task: str, column: pd.Series) -> np.ndarray:
    """The column as float 0/1/NaN; anything else is an error naming the column and a bad value."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isnan(values) | (values == 0) | (values == 1)) | (np.isnan(values) & column.notna().to_numpy())
    if bad.any():
        example = column.iloc[int(np.argmax(bad))]
        shown = f"{example:g}" if isinstance(example, (int, float, np.number)) else str(example)
        raise ValueError(f"{path}: column {task!r} has a label {shown!r}; labels must be 0, 1 or blank")
    return values


def match_task_names(path: str | os.PathLike, found: Sequence[str], expected: Sequence[str]) -> list[str]:
    """``expected`` when ``found`` holds exactly those task columns (any order), else an error naming the difference."""
    expected = list(expected)
    missing = [t for t in expected if t not in found]
    extra = [t for t in found if t not in expected]
    if missing or extra:
        parts = [f"missing {len(missing)}: {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {len(extra)}: {', '.join(extra)}"] if extra else []
        raise ValueError(f"{path}: task columns do not match the expected {len(expected)} tasks ({'; '.join(parts)})")
    return expected
