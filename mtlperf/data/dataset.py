"""The one data type every other module reads: inputs, labels with NaN for missing, task names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .fingerprints import PackedFingerprints
from .graphs import PackedGraphs

TASK_TYPES = ("classification", "regression")


@dataclass
class MultiTaskDataset:
    """N examples, T tasks.

    ``inputs``: :class:`PackedFingerprints`, :class:`~mtlperf.data.graphs.PackedGraphs` (molecular
    graphs) or a dense float32 array [N, d].
    ``labels``: float32 [N, T] (classification, 0/1, NaN = missing) or [N, T, out] (regression).
    ``meta``: free-form facts, e.g. ``invalid_smiles``, ``ideal_weights``, ``predefined_split``
    (a dict ``{"train", "valid", "test"}`` of index arrays).
    """

    name: str
    task_names: list[str]
    inputs: PackedFingerprints | PackedGraphs | np.ndarray
    labels: np.ndarray
    task_type: str = "classification"
    smiles: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {', '.join(TASK_TYPES)}, got {self.task_type!r}")
        n = len(self.inputs)
        if self.labels.shape[0] != n or (self.smiles is not None and len(self.smiles) != n):
            raise ValueError(f"{self.name}: inputs, labels and smiles must have the same number of rows")
        if self.labels.ndim < 2 or self.labels.shape[1] != len(self.task_names):
            raise ValueError(f"{self.name}: labels have shape {self.labels.shape} for {len(self.task_names)} tasks")

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def n_inputs(self) -> int:
        """Width of one input: the fingerprint length, the dense feature count, or a graph's features per atom."""
        if isinstance(self.inputs, PackedFingerprints):
            return self.inputs.n_bits
        return int((self.inputs.atoms if isinstance(self.inputs, PackedGraphs) else self.inputs).shape[1])

    def subset(self, rows: Sequence[int] | np.ndarray) -> MultiTaskDataset:
        """These rows, in this order; ``meta`` is copied except a ``predefined_split`` (its indices no longer apply)."""
        rows = np.asarray(rows, dtype=np.int64)
        packed = isinstance(self.inputs, (PackedFingerprints, PackedGraphs))
        inputs = self.inputs.take(rows) if packed else self.inputs[rows]
        smiles = None if self.smiles is None else [self.smiles[i] for i in rows]
        meta = {k: v for k, v in self.meta.items() if k != "predefined_split"}
        return replace(self, inputs=inputs, labels=self.labels[rows], smiles=smiles, meta=meta)
