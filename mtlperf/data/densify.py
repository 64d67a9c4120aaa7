"""The SGNN-EBM paper's densification of a sparse label matrix (appendix A.3, step 2; ``chembl_gen.py``).

First drop the tasks the task graph leaves isolated; then, until nothing changes, drop the
molecules with fewer than ``threshold`` labels, then the tasks with fewer than ``threshold``
labels or fewer than ``min_per_class`` positives or negatives. The authors' script isolates
against every scored pair of ``filtered_task_score.tsv``, before any score threshold: pass the
unthresholded graph to do the same.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .task_graph import TaskGraph

MIN_PER_CLASS = 10


class Densified(NamedTuple):
    """Indices into the original label matrix of the molecules and tasks kept, ascending."""

    rows: np.ndarray
    tasks: np.ndarray


def densify(
    labels: np.ndarray, threshold: int, graph: TaskGraph | None = None, min_per_class: int = MIN_PER_CLASS
) -> Densified:
    """The molecules and tasks of ``labels`` (float [N, T], 1/0, NaN = missing) that survive the densification."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D molecules x tasks array, got shape {labels.shape}")
    for name, value in (("threshold", threshold), ("min_per_class", min_per_class)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if graph is not None and graph.n_tasks != labels.shape[1]:
        raise ValueError(f"the task graph has {graph.n_tasks} tasks but labels have {labels.shape[1]} columns")
    rows = np.arange(labels.shape[0])
    tasks = np.flatnonzero(graph.degrees() > 0) if graph is not None else np.arange(labels.shape[1])
    labelled, positive = ~np.isnan(labels), labels == 1
    previous = None
    while previous != (rows.size, tasks.size):
        previous = (rows.size, tasks.size)
        rows = rows[labelled[np.ix_(rows, tasks)].sum(axis=1) >= threshold]
        counts = labelled[np.ix_(rows, tasks)].sum(axis=0)
        positives = positive[np.ix_(rows, tasks)].sum(axis=0)
        keep = (counts >= threshold) & (positives >= min_per_class) & (counts - positives >= min_per_class)
        tasks = tasks[keep]
    return Densified(rows, tasks)


def densified_stats(
    labels: np.ndarray, threshold: int, graph: TaskGraph | None = None, min_per_class: int = MIN_PER_CLASS
) -> dict:
    """Molecules, tasks and the labelled share (%) of ``labels`` after :func:`densify` (SGNN-EBM Table 1's columns)."""
    kept = densify(labels, threshold, graph, min_per_class)
    block = np.asarray(labels)[np.ix_(kept.rows, kept.tasks)]
    share = 100.0 * float((~np.isnan(block)).mean()) if block.size else None
    return {
        "threshold": int(threshold),
        "molecules": int(kept.rows.size),
        "tasks": int(kept.tasks.size),
        "labelled_pct": share,
    }
