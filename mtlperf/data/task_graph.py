"""Task relation graphs: which tasks are related, and how strongly (the SGNN-EBM paper's input).

The paper (appendix A.3) relates two ChEMBL tasks by ``w_ij = max PPI(s_i, s_j)`` over the
proteins ``S_i``, ``S_j`` the two tasks target, PPI being a STRING score. Builders here:

- :func:`read_task_scores`: the authors' ``filtered_task_score.tsv`` (headerless ``i j score``);
- :func:`target_graph`: a task -> proteins table, optionally with a protein-protein score table
  (:func:`read_protein_scores`, STRING's ``protein1 protein2 combined_score`` layout). Two tasks
  on the same protein get ``same_target_score`` (by default the highest score there is: the
  paper's score for the same protein cannot be beaten). Without a score table, that is the
  whole graph: tasks are related when they share a target.
- :func:`embedded_target_graph`: that graph for ToxCast or Tox21 from the embedded target
  tables (gene symbols from toxEval and the Tox21 assay descriptions).

The authors' own ``step_03.py`` does not relate tasks on the same protein: STRING lists no
protein with itself, and their ``defaultdict`` gives 0 for the pair. With one protein per task
(96% of their tasks) such tasks are unrelated there unless the two proteins also score; the
``same_target_score=0`` option reproduces that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pcba import EMBEDDED

TARGET_TABLES = {"toxcast": "toxcast_targets.tsv", "tox21": "tox21_targets.tsv"}
STRING_SCALE = 1000.0  # STRING's files hold integer scores 0..1000; its API and the authors' file 0..1


@dataclass(frozen=True)
class TaskGraph:
    """T tasks joined by undirected edges, each stored in both directions.

    ``edge_index`` int64 [2, 2M]: columns 2k and 2k + 1 are edge k as (i, j) and (j, i), i < j,
    edges sorted by (i, j); ``weights`` float32 [2M] (the same for both directions) or None.
    No self-loops, no repeated edges.
    """

    task_names: tuple[str, ...]
    edge_index: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        e = self.edge_index
        if e.ndim != 2 or e.shape[0] != 2 or e.shape[1] % 2:
            raise ValueError(f"TaskGraph: edge_index must be [2, 2M] (both directions), got shape {e.shape}")
        if self.weights is not None and self.weights.shape != (e.shape[1],):
            raise ValueError(f"TaskGraph: weights must have one value per directed edge ({e.shape[1]})")

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def n_edges(self) -> int:
        """Undirected edges (half the columns of ``edge_index``)."""
        return self.edge_index.shape[1] // 2

    def pairs(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(undirected edges [M, 2] with i < j, their weights [M] or None)."""
        return self.edge_index[:, 0::2].T.copy(), None if self.weights is None else self.weights[0::2].copy()

    def degrees(self) -> np.ndarray:
        """Neighbours of each task, int64 [T]."""
        return np.bincount(self.edge_index[0], minlength=self.n_tasks)

    def components(self) -> np.ndarray:
        """The connected component of each task, int [T] (numbered from 0)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        ones = np.ones(self.edge_index.shape[1])
        adjacency = coo_matrix((ones, (self.edge_index[0], self.edge_index[1])), shape=(self.n_tasks,) * 2)
        return connected_components(adjacency, directed=False)[1]

    def stats(self) -> dict:
        """Nodes, edges, isolated tasks, components, degree (min, mean, median, max), weight range."""
        degrees = self.degrees()
        summary = {
            "n_tasks": self.n_tasks,
            "n_edges": self.n_edges,
            "n_isolated": int((degrees == 0).sum()),
            "n_components": int(np.unique(self.components()).size) if self.n_tasks else 0,
            "degree": {
                "min": int(degrees.min(initial=0)),
                "mean": float(degrees.mean()) if self.n_tasks else 0.0,
                "median": float(np.median(degrees)) if self.n_tasks else 0.0,
                "max": int(degrees.max(initial=0)),
            },
            "weight": None,
        }
        if self.weights is not None and self.weights.size:
            summary["weight"] = {"min": float(self.weights.min()), "max": float(self.weights.max())}
        return summary

    def threshold(self, min_weight: float) -> TaskGraph:
        """The edges of weight >= ``min_weight`` (the authors drop ``score < threshold``, 0.1 in their scripts)."""
        if self.weights is None:
            raise ValueError("threshold needs a weighted graph; this one has no weights")
        pairs, weights = self.pairs()
        keep = weights >= min_weight
        return task_graph(self.task_names, pairs[keep], weights[keep])

    def subgraph(self, tasks: Sequence[int]) -> TaskGraph:
        """The graph among ``tasks`` (indices, in their new order), e.g. the first K tasks of a data set."""
        tasks = np.asarray(tasks, dtype=np.int64).reshape(-1)
        if tasks.size and (tasks.min() < 0 or tasks.max() >= self.n_tasks):
            raise ValueError(f"task index out of range for {self.n_tasks} tasks")
        if np.unique(tasks).size != tasks.size:
            raise ValueError("subgraph tasks must be distinct")
        position = np.full(self.n_tasks, -1, dtype=np.int64)
        position[tasks] = np.arange(tasks.size)
        pairs, weights = self.pairs()
        new = position[pairs]
        keep = (new >= 0).all(axis=1)
        return task_graph([self.task_names[t] for t in tasks], new[keep], None if weights is None else weights[keep])


def task_graph(
    task_names: Sequence[str], pairs: np.ndarray | Sequence[Sequence[int]], weights: Sequence[float] | None = None
) -> TaskGraph:
    """A :class:`TaskGraph` from undirected pairs of task indices (any order); a repeated pair keeps its top weight."""
    task_names = tuple(str(t) for t in task_names)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(task_names)):
        bad = pairs[(pairs < 0).any(axis=1) | (pairs >= len(task_names)).any(axis=1)][0].tolist()
        n = len(task_names)
        raise ValueError(f"task pair {tuple(bad)} out of range for {n} tasks (indices 0..{n - 1})")
    if (pairs[:, 0] == pairs[:, 1]).any():
        raise ValueError(f"task pair {tuple(pairs[pairs[:, 0] == pairs[:, 1]][0].tolist())} joins a task to itself")
    values = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if values is not None and values.size != pairs.shape[0]:
        raise ValueError(f"{pairs.shape[0]} task pairs but {values.size} weights")
    if values is not None and not np.isfinite(values).all():
        raise ValueError("task pair weights must be finite numbers")
    ordered = np.sort(pairs, axis=1)
    key = ordered[:, 0] * max(len(task_names), 1) + ordered[:, 1]
    if values is None:
        unique = np.unique(key)
    else:  # highest weight first, then the first occurrence of each pair is the one kept
        order = np.lexsort((-values, key))
        key, values = key[order], values[order]
        first = np.concatenate([[True], key[1:] != key[:-1]]) if key.size else np.zeros(0, bool)
        unique, values = key[first], values[first]
    i, j = np.divmod(unique, max(len(task_names), 1))
    edge_index = np.stack([np.stack([i, j], 1), np.stack([j, i], 1)], 1).reshape(-1, 2).T
    both = None if values is None else np.repeat(values, 2).astype(np.float32)
    return TaskGraph(task_names, np.ascontiguousarray(edge_index, dtype=np.int64), both)


def read_task_scores(path: str | os.PathLike, task_names: Sequence[str]) -> TaskGraph:
    """The authors' ``filtered_task_score.tsv``: no header, ``i <TAB> j <TAB> score`` per line, tasks by index."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    pairs, scores = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        try:
            if len(fields) != 3:
                raise ValueError
            i, j, score = int(fields[0]), int(fields[1]), float(fields[2])
        except ValueError:
            expected = "'i<TAB>j<TAB>score' (two task indices, a number)"
            raise ValueError(f"{path}: line {number} is {line.strip()!r}; expected {expected}") from None
        pairs.append((i, j))
        scores.append(score)
    try:
        return task_graph(task_names, np.array(pairs, dtype=np.int64).reshape(-1, 2), scores)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def read_target_table(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Task -> its target proteins from a TSV with ``task`` and ``gene_symbol`` columns ('|' joins several)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("task", "gene_symbol") if c not in table.columns]
    if missing:
        names = " or ".join(repr(c) for c in missing)
        raise ValueError(f"{path}: no {names} column (found: {', '.join(table.columns)})")
    if table["task"].duplicated().any():
        raise ValueError(f"{path}: task {table['task'][table['task'].duplicated()].iloc[0]!r} appears twice")
    return {
        task: tuple(dict.fromkeys(g.strip() for g in genes.split("|") if g.strip()))  # ortholog ids repeat a symbol
        for task, genes in zip(table["task"], table["gene_symbol"])
    }


def read_protein_scores(
    path: str | os.PathLike, score_column: str = "combined_score", scale: float = STRING_SCALE
) -> dict[tuple[str, str], float]:
    """(protein, protein) -> score / ``scale`` from a whitespace-separated table with a header (STRING's layout).

    STRING's ``protein.links`` files hold ``protein1 protein2 combined_score`` as integers 0..1000
    (``scale=1000`` gives the 0..1 of the authors' scores); the ``detailed`` files also hold the
    channels, e.g. ``score_column="experimental"`` (the channel the authors used). Both orders
    of a pair are stored.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    table = pd.read_csv(path, sep=r"\s+", dtype={"protein1": str, "protein2": str}, compression="infer")
    missing = [c for c in ("protein1", "protein2", score_column) if c not in table.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise ValueError(f"{path}: no {names} column (found: {', '.join(table.columns)})")
    values = pd.to_numeric(table[score_column], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        bad = table[score_column].iloc[int(np.argmax(np.isnan(values)))]
        raise ValueError(f"{path}: column {score_column!r} has a value {bad!r} that is not a number")
    scores: dict[tuple[str, str], float] = {}
    for p, q, value in zip(table["protein1"], table["protein2"], values / scale):
        scores[(p, q)] = scores[(q, p)] = max(value, scores.get((p, q), value))
    return scores


def target_graph(
    task_names: Sequence[str],
    targets: Mapping[str, Sequence[str]],
    protein_scores: Mapping[tuple[str, str], float] | None = None,
    same_target_score: float | None = None,
) -> TaskGraph:
    """Tasks related through their targets: ``w_ij = max score(s_i, s_j)`` over their proteins (appendix A.3).

    ``targets`` maps a task name to its proteins (a task absent from it, or with none, stays
    isolated). Two tasks sharing a protein get ``same_target_score`` (default: the highest
    protein score, 1.0 without scores). Pairs scoring 0 are not edges.
    """
    task_names = [str(t) for t in task_names]
    scores = dict(protein_scores or {})
    top = same_target_score if same_target_score is not None else max(scores.values(), default=1.0)
    tasks_of: dict[str, list[int]] = {}
    for index, task in enumerate(task_names):
        for protein in targets.get(task, ()):
            tasks_of.setdefault(protein, []).append(index)
    best: dict[tuple[int, int], float] = {}

    def relate(group_a: list[int], group_b: list[int], score: float) -> None:
        for a in group_a:
            for b in group_b:
                if a != b and score > 0:
                    key = (min(a, b), max(a, b))
                    best[key] = max(score, best.get(key, score))

    for group in tasks_of.values():
        relate(group, group, top)
    for (p, q), score in scores.items():
        if p != q and p in tasks_of and q in tasks_of:
            relate(tasks_of[p], tasks_of[q], score)
    pairs = sorted(best)
    return task_graph(task_names, np.array(pairs, dtype=np.int64).reshape(-1, 2), [best[k] for k in pairs])


def embedded_targets(name: str) -> dict[str, tuple[str, ...]]:
    """Task -> gene symbols of an embedded data set: ``toxcast`` (617 tasks) or ``tox21`` (12)."""
    if name not in TARGET_TABLES:
        raise ValueError(f"no embedded target table for {name!r}; available: {', '.join(TARGET_TABLES)}")
    return read_target_table(EMBEDDED / TARGET_TABLES[name])


def embedded_target_graph(
    name: str,
    task_names: Sequence[str] | None = None,
    protein_scores: Mapping[tuple[str, str], float] | None = None,
    same_target_score: float | None = None,
) -> TaskGraph:
    """:func:`target_graph` of ``toxcast`` or ``tox21`` over ``task_names`` (default: the table's tasks, in order).

    Pass a loaded data set's ``task_names`` (e.g. its first K tasks) to get the graph in its
    column order; a task the table does not list is a ValueError naming it.
    """
    targets = embedded_targets(name)
    task_names = list(targets) if task_names is None else [str(t) for t in task_names]
    unknown = [t for t in task_names if t not in targets]
    if unknown:
        raise ValueError(f"{len(unknown)} task(s) not in the {name} target table, e.g. {', '.join(unknown[:3])}")
    return target_graph(task_names, targets, protein_scores, same_target_score)
