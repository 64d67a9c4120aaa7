"""Rows of a dataset as a model's inputs and labels on one device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .dataset import MultiTaskDataset
from .fingerprints import PackedFingerprints
from .graphs import PackedGraphs


class Batches:
    """``inputs(rows)`` (``SparseBits`` for packed fingerprints, a ``GraphBatch`` for molecular graphs,
    else a dense float tensor) and
    ``labels(rows, columns)``, both on ``device``."""

    def __init__(self, dataset: MultiTaskDataset, device: torch.device):
        self.dataset, self.device = dataset, device

    def inputs(self, rows: np.ndarray):
        if isinstance(self.dataset.inputs, (PackedFingerprints, PackedGraphs)):
            return self.dataset.inputs.batch(rows, self.device)
        return torch.as_tensor(np.asarray(self.dataset.inputs[rows], dtype=np.float32)).to(self.device)

    def labels(self, rows: np.ndarray, columns: Sequence[int]) -> torch.Tensor:
        return torch.as_tensor(self.dataset.labels[rows][:, list(columns)]).to(self.device)


def training_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into batches of ``batch_size`` rows; a final batch of one row joins the one before.

    Batch norm cannot train on one row, and any split size leaves one by chance (a per-task
    strategy's subset of rows, for instance); merging keeps every row in the epoch.
    """
    bounds = [*range(0, order.size, batch_size), order.size]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [order[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
