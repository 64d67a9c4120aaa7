"""The SGNN-EBM paper's molecule encoder: Hu et al. (2019)'s GIN with bond features, in plain torch.

Layer k (the authors' ``GINConv`` in ``src/models/molecule_models.py``; paper appendix B, eq. 15):

    a_i = sum over the edges j -> i, and the self-loop i -> i, of (h_j + E_type[b_ji] + E_dir[d_ji])
    h_i' = BN(MLP(a_i)),  MLP = Linear(d, 2d) -> ReLU -> Linear(2d, d)

then ReLU (every layer but the last) and dropout. The self-loop has its own bond type (4) and
direction 0, so a node's own state enters with a learned offset. The input is the sum of an
atom-type and a chirality embedding; the graph's vector is the mean of its atoms' last-layer
states (JK "last"). Embeddings are Xavier-uniform initialised, as the authors do.

Message passing is ``index_add_`` over the edge list rather than PyTorch Geometric: the sum
aggregation is three lines, and mtlperf keeps no hard graph dependency (PyG's ``GINEConv``
also differs: a ReLU in the message, no self-loop type). On CPU the result is deterministic;
CUDA's ``index_add_`` accumulates in no fixed order unless ``torch.use_deterministic_algorithms``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..graph_batch import N_ATOM_TYPES, N_BOND_DIRECTIONS, N_BOND_TYPES, N_CHIRAL_TAGS, SELF_LOOP_BOND_TYPE, GraphBatch

POOLINGS = ("mean", "sum", "max")
JUMPING_KNOWLEDGE = ("last", "sum", "max", "concat")


class GINLayer(nn.Module):
    """One GIN convolution with bond embeddings and typed self-loops (before batch norm)."""

    def __init__(self, emb_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(emb_dim, 2 * emb_dim), nn.ReLU(), nn.Linear(2 * emb_dim, emb_dim))
        self.bond_type = nn.Embedding(N_BOND_TYPES, emb_dim)
        self.bond_direction = nn.Embedding(N_BOND_DIRECTIONS, emb_dim)
        nn.init.xavier_uniform_(self.bond_type.weight)
        nn.init.xavier_uniform_(self.bond_direction.weight)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        messages = h[source] + self.bond_type(edge_attr[:, 0]) + self.bond_direction(edge_attr[:, 1])
        summed = torch.zeros_like(h).index_add_(0, target, messages)
        self_loop = self.bond_type.weight[SELF_LOOP_BOND_TYPE] + self.bond_direction.weight[0]
        return self.mlp(summed + h + self_loop)


class GINEncoder(nn.Module):
    """Molecular graphs (:class:`GraphBatch`) -> one vector per graph [n_graphs, out_features].

    Defaults are the paper's: 5 layers, 300 dimensions, dropout 0.2, mean pooling, the last
    layer's node states. ``jk`` "sum"/"max" combine the input embedding and every layer's
    states elementwise, "concat" stacks them (out_features = (n_layers + 1) * emb_dim).

    Not all parameters are ``nn.Linear``: the atom, chirality and bond embeddings and the
    batch norms are not, so Gramian fast paths that need every shared parameter to be a
    Linear layer's do not apply to this trunk; :meth:`linear_layers` lists the Linear ones
    (the two of each layer's MLP) for the paths that can use some of them.
    """

    def __init__(
        self, n_layers: int = 5, emb_dim: int = 300, dropout: float = 0.2, pooling: str = "mean", jk: str = "last"
    ):
        super().__init__()
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be an integer >= 1, got {n_layers!r}")
        if not isinstance(emb_dim, int) or emb_dim < 1:
            raise ValueError(f"emb_dim must be a positive integer, got {emb_dim!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; accepted: {', '.join(POOLINGS)}")
        if jk not in JUMPING_KNOWLEDGE:
            raise ValueError(f"unknown jk {jk!r}; accepted: {', '.join(JUMPING_KNOWLEDGE)}")
        self.n_layers, self.emb_dim, self.dropout, self.pooling, self.jk = n_layers, emb_dim, dropout, pooling, jk
        self.out_features = (n_layers + 1) * emb_dim if jk == "concat" else emb_dim
        self.atom_type = nn.Embedding(N_ATOM_TYPES, emb_dim)
        self.chirality = nn.Embedding(N_CHIRAL_TAGS, emb_dim)
        nn.init.xavier_uniform_(self.atom_type.weight)
        nn.init.xavier_uniform_(self.chirality.weight)
        self.layers = nn.ModuleList(GINLayer(emb_dim) for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(emb_dim) for _ in range(n_layers))

    def linear_layers(self) -> list[nn.Linear]:
        """The Linear layers of the trunk, in forward order (two per GIN layer)."""
        return [module for module in self.modules() if isinstance(module, nn.Linear)]

    def node_states(self, graphs: GraphBatch) -> torch.Tensor:
        """[n_nodes, out_features]: every atom's representation, combined over layers as ``jk`` says."""
        if not isinstance(graphs, GraphBatch):
            raise ValueError(f"GINEncoder reads a GraphBatch, got {type(graphs).__name__}")
        h = self.atom_type(graphs.x[:, 0]) + self.chirality(graphs.x[:, 1])
        states = [h]
        for k, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            h = norm(layer(h, graphs.edge_index, graphs.edge_attr))
            if k < self.n_layers - 1:
                h = F.relu(h)
            h = F.dropout(h, self.dropout, training=self.training)
            states.append(h)
        if self.jk == "last":
            return states[-1]
        if self.jk == "concat":
            return torch.cat(states, dim=1)
        stacked = torch.stack(states)
        return stacked.sum(0) if self.jk == "sum" else stacked.amax(0)

    def forward(self, graphs: GraphBatch) -> torch.Tensor:
        return pool_nodes(self.node_states(graphs), graphs.batch, graphs.n_graphs, self.pooling)

    def forward_recording(self, graphs: GraphBatch) -> tuple[torch.Tensor, None]:
        """The trunk contract of :class:`~mtlperf.models.net.MultiTaskNet`: the graph vectors, and
        ``None`` for the Linear layers, since the Gramian fast paths need every shared parameter in one."""
        return self(graphs), None

    def last_linear(self) -> nn.Linear:
        """The last layer's MLP output (GradNorm's W): its batch norm follows, then the pooling."""
        return self.layers[-1].mlp[-1]


def pool_nodes(states: torch.Tensor, batch: torch.Tensor, n_graphs: int, pooling: str = "mean") -> torch.Tensor:
    """[n_graphs, d]: the mean, sum or max of each graph's node states (a graph without nodes gives 0)."""
    index = batch.unsqueeze(1).expand_as(states)
    out = states.new_zeros(n_graphs, states.shape[1])
    if pooling == "max":
        return out.scatter_reduce(0, index, states, reduce="amax", include_self=False)
    out = out.index_add(0, batch, states)
    if pooling == "sum":
        return out
    if pooling != "mean":
        raise ValueError(f"unknown pooling {pooling!r}; accepted: {', '.join(POOLINGS)}")
    counts = torch.bincount(batch, minlength=n_graphs).clamp(min=1).to(states.dtype)
    return out / counts.unsqueeze(1)
