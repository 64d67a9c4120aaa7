"""Keeping the first K tasks, SLAW's molecule filter, and dropping rows with no label left."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..validation import is_integer
from .dataset import MultiTaskDataset

SLAW_FILTER_TASKS = 32  # SLAW keeps the molecules labelled for at least one of the first 32 PCBA tasks


def check_n_tasks(source: str, n_tasks: int | None, available: int) -> int:
    """``n_tasks`` (None = all) as an int, or a ValueError naming ``source``."""
    if n_tasks is None:
        return available
    if not is_integer(n_tasks) or n_tasks < 1:
        raise ValueError(f"n_tasks must be a positive integer or None, got {n_tasks!r}")
    if n_tasks > available:
        raise ValueError(f"{source}: n_tasks={n_tasks} asked for but it has only {available} task columns")
    return int(n_tasks)


def restrict(dataset: MultiTaskDataset, n_tasks: int | None = None, slaw_filter: bool = False) -> MultiTaskDataset:
    """Keep the first ``n_tasks`` tasks and the rows labelled for at least one of them.

    ``slaw_filter`` also requires a label in one of the first 32 tasks (all tasks when
    there are fewer). Rows dropped for having no label are counted in
    ``meta["dropped_unlabelled"]``. Regression labels are never missing: rows are kept.
    """
    k = check_n_tasks(dataset.name, n_tasks, dataset.n_tasks)
    labels = dataset.labels if dataset.labels.ndim == 3 else dataset.labels[:, :, None]
    labelled = ~np.isnan(labels).all(axis=2)
    keep = labelled[:, :k].any(axis=1)
    if slaw_filter:
        keep &= labelled[:, :SLAW_FILTER_TASKS].any(axis=1)
    rows = np.flatnonzero(keep)
    out = dataset.subset(rows) if rows.size < len(dataset) else replace(dataset, meta=dict(dataset.meta))
    if k < dataset.n_tasks:
        out = replace(out, task_names=out.task_names[:k], labels=out.labels[:, :k])
    out.meta.update(dropped_unlabelled=int(len(dataset) - rows.size), slaw_filter=bool(slaw_filter))
    return out
