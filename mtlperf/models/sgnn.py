"""The SGNN-EBM paper's structured models over a task relation graph: SGNN and SGNN-EBM's energy network.

Liu, Qu, Zhang, Cai & Tang (AISTATS 2022), section 5.2 and appendices C-D. For molecule ``x``
(GIN vector ``z(x)``) and task ``i`` (embedding ``z_i``, optionally through a 2-layer GCN over the
task graph), with C = 2 label states per task and 2 x 2 per edge ``<i, j>`` (i < j):

    h_i^0(x)  = MLP_n(z(x) ⊕ z_i)           [C, d]       (Eq. 4)
    h_ij^0(x) = MLP_e(z(x) ⊕ z_i ⊕ z_j)     [C, C, d]
    h_i^{l+1}(y_i)       = W_n (h_i^l(y_i) + sum_{j ~ i} sum_{y_j} h_ij^l(y_i, y_j))        (Eq. 6, 19)
    h_ij^{l+1}(y_i, y_j) = W_e (h_ij^l(y_i, y_j) + W_a (h_i^l(y_i) + h_j^l(y_j)))
    SGNN:     f_i(x) = R(⊕_{l=1..L} h_i^l(0) ⊕ h_i^l(1)),  p(y_i = 1) = sigmoid(f_i)         (Eq. 7)
    SGNN-EBM: f_i(x, y_i) = log softmax_{y_i} R_n(⊕_l h_i^l(y_i)),
              f_ij(x, y_i, y_j) = log softmax_{(y_i, y_j)} R_e(⊕_l h_ij^l(y_i, y_j))            (Eq. 11)

The first layer of each input MLP is linear in the concatenation, so it is split into a molecule
part, a task part (and a second task part): B + T (+ T) rows instead of B x T (B x M); likewise
``W_a`` is applied to node states ([B, T, 2] rows) before they are gathered to edges ([B, M, 4]).
Edges are undirected, each once; an edge state is indexed ``2 y_i + y_j``.

The authors' code (``SGNN_EBM_models.py``, ``task_models.py``) differs in: node messages averaged
over the two edge ends ``(sum_out + sum_in) / 2``, with the ``y_i`` aggregation used at both ends;
edges listed in both directions (each edge twice in every sum); ``ebm_GNN_layer_num`` L running
L - 1 propagation layers (``n_layers`` here counts propagation layers); the readout concatenating
layer 0 too. Sizes follow the code: input MLPs (1024, 512) with ReLU and dropout 0.1, node
states ReLU'd and dropped out between layers, readouts 2 hidden layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .parts import ModelParts

EDGE_FIRST_STATE = (0, 0, 1, 1)  # y_i of edge state 2 y_i + y_j
EDGE_SECOND_STATE = (0, 1, 0, 1)  # y_j of edge state 2 y_i + y_j


class TaskEmbedding(nn.Module):
    """``z_i`` for every task, [T, dim]: a learned embedding, then ``gcn_layers`` GCN layers over the task graph.

    GCN (Kipf & Welling; paper appendix C): ``H' = Â H W + b``, ``Â = D^-1/2 (A + I) D^-1/2``, ReLU
    between layers. ``residual=True``: the code's ``H + GCN(H)`` per layer.
    """

    def __init__(self, n_tasks: int, dim: int, pairs: torch.Tensor, gcn_layers: int = 2, residual: bool = False):
        super().__init__()
        if gcn_layers < 0:
            raise ValueError(f"gcn_layers must be >= 0, got {gcn_layers}")
        self.embedding = nn.Embedding(n_tasks, dim)
        self.gcn = nn.ModuleList(nn.Linear(dim, dim) for _ in range(gcn_layers))
        self.residual = residual
        adjacency = torch.eye(n_tasks)
        if pairs.numel():
            adjacency[pairs[:, 0], pairs[:, 1]] = 1.0
            adjacency[pairs[:, 1], pairs[:, 0]] = 1.0
        scale = adjacency.sum(1).rsqrt()
        self.register_buffer("propagation", scale[:, None] * adjacency * scale[None, :])

    def forward(self) -> torch.Tensor:
        h = self.embedding.weight
        for k, layer in enumerate(self.gcn):
            update = self.propagation @ layer(h)
            h = h + update if self.residual else update
            if k < len(self.gcn) - 1:
                h = F.relu(h)
        return h


class SplitInputMLP(nn.Module):
    """``MLP(z(x) ⊕ z_a ⊕ z_b ...)`` for every (molecule, task tuple), its first layer split by input.

    ``forward(molecules [B, dm], *tasks [K, dt])`` -> [B, K, out]: the first Linear's weight is cut
    into column blocks, each block applied once to its own rows, and the results added per pair.
    """

    def __init__(self, in_blocks: tuple[int, ...], hidden: tuple[int, ...], out_features: int, dropout: float):
        super().__init__()
        widths = [sum(in_blocks), *hidden, out_features]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.in_blocks, self.dropout = in_blocks, dropout

    def forward(self, molecules: torch.Tensor, *tasks: torch.Tensor) -> torch.Tensor:
        first = self.layers[0]
        blocks = first.weight.split(self.in_blocks, dim=1)
        h = F.linear(molecules, blocks[0], first.bias)[:, None, :]
        for block, rows in zip(blocks[1:], tasks, strict=True):
            h = h + F.linear(rows, block)[None, :, :]
        for layer in self.layers[1:]:
            h = layer(F.dropout(F.relu(h), self.dropout, self.training))
        return h


class StateLayer(nn.Module):
    """One state-wise message passing layer (Eq. 6 / 19): node states [B, T, 2, d], edge states [B, M, 4, d].

    ``update_edges=False``: no new edge states (None), for a last layer whose edges nothing reads.
    """

    def __init__(self, dim: int, update_edges: bool = True):
        super().__init__()
        self.node = nn.Linear(dim, dim)
        self.edge = nn.Linear(dim, dim) if update_edges else None
        self.aggregate = nn.Linear(dim, dim) if update_edges else None

    def forward(self, nodes: torch.Tensor, edges: torch.Tensor, pairs: torch.Tensor):
        first, second = pairs[:, 0], pairs[:, 1]
        b, m, _, d = edges.shape
        by_state = edges.view(b, m, 2, 2, d)
        messages = torch.zeros_like(nodes)
        messages = messages.index_add(1, first, by_state.sum(3))  # to i: its own y_i fixed, summed over y_j
        messages = messages.index_add(1, second, by_state.sum(2))  # to j: its own y_j fixed, summed over y_i
        new_nodes = self.node(nodes + messages)
        if self.edge is None:
            return new_nodes, None
        projected = F.linear(nodes, self.aggregate.weight)  # W_a on node states, gathered to edges below
        ends = projected[:, first][:, :, EDGE_FIRST_STATE] + projected[:, second][:, :, EDGE_SECOND_STATE]
        new_edges = self.edge(edges + ends + self.aggregate.bias)
        return new_nodes, new_edges


class StateGNN(nn.Module):
    """Molecule and task embeddings -> node and edge states of every layer (lists of L + 1 tensors).

    ``edge_readout=False`` (SGNN: only node states are read out): the last layer computes no edge states.
    """

    def __init__(
        self,
        mol_dim: int,
        task_dim: int,
        pairs: torch.Tensor,
        dim: int = 100,
        n_layers: int = 2,
        hidden: tuple[int, ...] = (1024, 512),
        dropout: float = 0.1,
        edge_readout: bool = True,
    ):
        super().__init__()
        self.register_buffer("pairs", pairs.reshape(-1, 2).long())
        self.dim, self.dropout = dim, dropout
        self.node_input = SplitInputMLP((mol_dim, task_dim), hidden, 2 * dim, dropout)
        self.edge_input = SplitInputMLP((mol_dim, task_dim, task_dim), hidden, 4 * dim, dropout)
        self.layers = nn.ModuleList(
            StateLayer(dim, update_edges=edge_readout or k < n_layers - 1) for k in range(n_layers)
        )

    def forward(self, molecules: torch.Tensor, tasks: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        b = molecules.shape[0]
        first, second = self.pairs[:, 0], self.pairs[:, 1]
        nodes = self.node_input(molecules, tasks).view(b, -1, 2, self.dim)
        edges = self.edge_input(molecules, tasks[first], tasks[second]).view(b, -1, 4, self.dim)
        all_nodes, all_edges = [nodes], [edges]
        for k, layer in enumerate(self.layers):
            nodes, edges = layer(nodes, edges, self.pairs)
            if k < len(self.layers) - 1:
                nodes = F.relu(nodes)
            nodes = F.dropout(nodes, self.dropout, self.training)
            all_nodes.append(nodes)
            all_edges.append(edges)
        return all_nodes, all_edges


def _readout_layers(states: list[torch.Tensor]) -> torch.Tensor:
    """The layers a readout reads, concatenated on the last axis: 1..L (Eq. 7, 11), or the inputs when L = 0."""
    return torch.cat(states[1:] if len(states) > 1 else states, dim=-1)


def _mlp(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width), nn.ReLU(), nn.Linear(width, out)
    )


class StructuredBackbone(nn.Module):
    """GIN molecule encoder + task embeddings + state GNN: what SGNN and SGNN-EBM share."""

    def __init__(
        self,
        encoder: nn.Module,
        n_tasks: int,
        pairs: torch.Tensor,
        *,
        task_dim: int = 50,
        dim: int = 100,
        n_layers: int = 2,
        gcn_layers: int = 2,
        gcn_residual: bool = False,
        hidden: tuple[int, ...] = (1024, 512),
        dropout: float = 0.1,
        edge_readout: bool = True,
    ):
        super().__init__()
        pairs = torch.as_tensor(pairs, dtype=torch.long).reshape(-1, 2)
        if pairs.numel() and (pairs.min() < 0 or pairs.max() >= n_tasks or bool((pairs[:, 0] >= pairs[:, 1]).any())):
            raise ValueError(f"pairs must be task index pairs (i, j) with 0 <= i < j < {n_tasks}")
        self.n_tasks, self.dim, self.n_layers = n_tasks, dim, n_layers
        self.trunk = encoder
        self.task_embedding = TaskEmbedding(n_tasks, task_dim, pairs, gcn_layers, gcn_residual)
        self.states = StateGNN(
            encoder.out_features, task_dim, pairs, dim, n_layers, tuple(hidden), dropout, edge_readout
        )

    @property
    def pairs(self) -> torch.Tensor:
        return self.states.pairs

    def layer_states(self, x) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return self.states(self.trunk(x), self.task_embedding())

    def shared_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the task embeddings (each row of those is one task's own)."""
        own = self.task_embedding.embedding.weight
        return [p for p in self.parameters() if p is not own]

    def _parts(self, last: nn.Linear) -> ModelParts:
        return ModelParts(
            shared=tuple(self.shared_parameters()),
            last_shared=(last.weight, last.bias),
            heads=self.task_embedding.embedding.weight,
        )


class SGNN(StructuredBackbone):
    """SGNN (section 5.2): one logit per task, [B, T], trained with BCE like any multi-task net.

    As a model for the weighting methods: ``shared`` is everything but the task embeddings;
    ``heads`` the task embedding table (row i is task i's own parameter: RMTL's head);
    ``last_shared`` the readout's last Linear, shared by all tasks (GradNorm's W). No Linear
    layers are recorded (the trunk has embeddings and batch norms), so per-task gradients use autograd.
    """

    def __init__(self, encoder: nn.Module, n_tasks: int, pairs, **options):
        super().__init__(encoder, n_tasks, pairs, edge_readout=False, **options)
        self.readout = _mlp(2 * self.dim * max(self.n_layers, 1), 1)

    def forward(self, x) -> torch.Tensor:
        return self.forward_with_parts(x)[0]

    def forward_with_parts(self, x) -> tuple[torch.Tensor, ModelParts]:
        nodes, _ = self.layer_states(x)
        b, t = nodes[0].shape[:2]
        logits = self.readout(_readout_layers(nodes).reshape(b, t, -1)).squeeze(-1)
        return logits, self._parts(self.readout[-1])

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return [self.readout[-1].weight, self.readout[-1].bias]


class SGNNEnergy(StructuredBackbone):
    """SGNN-EBM's factors (Eq. 11): ``forward(x)`` -> (node log-probabilities [B, T, 2], edge ones [B, M, 4])."""

    def __init__(self, encoder: nn.Module, n_tasks: int, pairs, **options):
        super().__init__(encoder, n_tasks, pairs, **options)
        width = self.dim * max(self.n_layers, 1)
        self.node_readout = _mlp(width, 1)
        self.edge_readout = _mlp(width, 1)

    def forward(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        nodes, edges = self.layer_states(x)
        node_scores = self.node_readout(_readout_layers(nodes)).squeeze(-1)
        edge_scores = self.edge_readout(_readout_layers(edges)).squeeze(-1)
        return node_scores.log_softmax(-1), edge_scores.log_softmax(-1)
