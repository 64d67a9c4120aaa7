"""The task relation graph of a loaded data set, and the data set densified over it (SGNN-EBM's inputs)."""

from __future__ import annotations

from dataclasses import replace

from .dataset import MultiTaskDataset
from .densify import densify
from .task_graph import TARGET_TABLES, TaskGraph, embedded_target_graph


def task_graph_of(dataset: MultiTaskDataset) -> TaskGraph:
    """``meta["task_graph"]`` (ChEMBL-STRING, densified sets), else ToxCast's or Tox21's target graph."""
    graph = dataset.meta.get("task_graph")
    if graph is not None:
        return graph
    if dataset.name in TARGET_TABLES:
        return embedded_target_graph(dataset.name, dataset.task_names)
    raise ValueError(
        f"{dataset.name} has no task relation graph; the structured models need one: "
        f"{', '.join(TARGET_TABLES)} (their target tables) or a ChEMBL-STRING directory"
    )


def densified_dataset(dataset: MultiTaskDataset, threshold: int) -> MultiTaskDataset:
    """The molecules and tasks :func:`mtlperf.data.densify.densify` keeps, with the graph over those tasks.

    Named ``NAME-denseτ``; ``meta["task_graph"]`` is the graph restricted to the kept tasks.
    """
    graph = task_graph_of(dataset)
    kept = densify(dataset.labels, threshold, graph)
    if kept.tasks.size == 0 or kept.rows.size == 0:
        raise ValueError(f"{dataset.name}: densifying at {threshold} labels leaves nothing; try a lower threshold")
    out = dataset.subset(kept.rows)
    out = replace(
        out,
        name=f"{dataset.name}-dense{threshold}",
        task_names=[dataset.task_names[t] for t in kept.tasks],
        labels=out.labels[:, kept.tasks],
    )
    out.meta.update(task_graph=graph.subgraph(kept.tasks), densify_threshold=int(threshold))
    return out
