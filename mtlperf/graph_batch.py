"""A batch of molecular graphs held as a few index tensors, and the feature vocabulary they index.

This is the model input type of graph networks, as :class:`~mtlperf.sparse.SparseBits` is of
fingerprint networks: ``mtlperf.data.graphs`` writes these indices and ``mtlperf.models.gin``
embeds them. The vocabulary is Hu et al. (2019)'s "simple" one, as the SGNN-EBM authors' code
uses it: per atom (atom type, chirality tag), per bond (bond type, bond direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Embedding table sizes of the authors' GIN (src/models/molecule_models.py).
N_ATOM_TYPES = 120  # atomic numbers 1..118 at index Z - 1, plus the authors' mask-token slots
N_CHIRAL_TAGS = 3  # unspecified, tetrahedral CW, tetrahedral CCW
N_BOND_TYPES = 6  # single, double, triple, aromatic, the self-loop type, a mask token
N_BOND_DIRECTIONS = 3  # none, end-up-right, end-down-right (double-bond stereo)
SELF_LOOP_BOND_TYPE = 4


@dataclass(frozen=True)
class GraphBatch:
    """``n_graphs`` molecules as one disconnected graph of N atoms and E directed edges.

    ``x`` [N, 2] (atom type, chirality tag), ``edge_index`` [2, E] (source row, target row; every
    bond appears in both directions, its two directions side by side), ``edge_attr`` [E, 2]
    (bond type, bond direction), ``batch`` [N] (the graph each atom belongs to, ascending); all
    int64, node indices counted over the whole batch.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    n_graphs: int

    def __len__(self) -> int:
        return self.n_graphs

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def n_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def to(self, device: torch.device | str) -> GraphBatch:
        x, edge_index, edge_attr, batch = (t.to(device) for t in (self.x, self.edge_index, self.edge_attr, self.batch))
        return GraphBatch(x, edge_index, edge_attr, batch, self.n_graphs)
