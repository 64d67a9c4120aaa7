"""The layers the networks share: a first layer that reads fingerprint bits, and all task heads as one layer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..sparse import SparseBits


class SparseInputLinear(nn.Linear):
    """``y = x W^T + b`` for a dense ``x`` [B, in] or a :class:`SparseBits` batch; same numbers.

    For bits, ``y_b = sum of the columns of W at the set bits of row b + b``: an embedding bag
    over the table ``W^T`` [in, out]. ``weight`` keeps ``nn.Linear``'s shape [out, in] (state
    dicts stay conventional) but is stored column-major, so that ``W^T`` is contiguous: a
    row-major ``W^T`` would be copied on every step (the README's sparse/dense profile measures both).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.weight = nn.Parameter(self.weight.detach().t().contiguous().t())

    def forward(self, x: torch.Tensor | SparseBits) -> torch.Tensor:
        if not isinstance(x, SparseBits):
            return super().forward(x)
        if x.n_bits != self.in_features:
            raise ValueError(f"input has {x.n_bits} bits but the layer expects {self.in_features}")
        table = self.weight.t()
        if not table.is_contiguous():  # layout lost (weight reassigned): still right, only slower
            table = table.contiguous()
        out = F.embedding_bag(x.indices, table, x.offsets, mode="sum")
        return out if self.bias is None else out + self.bias


class TaskHeads(nn.Module):
    """T linear heads as one batched layer: ``y[b, t] = W_t z_b + c_t``.

    ``weight`` [T, out, d], ``bias`` [T, out]; one matrix product serves every head. The output
    is [B, T, out], or [B, T] when out == 1. Initialised with the draws T separate
    ``nn.Linear(d, out)`` would take, in the same order, so one seed gives the same heads.
    """

    def __init__(self, n_tasks: int, in_features: int, out_features: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_tasks, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_tasks, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[2])
        for weight, bias in zip(self.weight, self.bias):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # nn.Linear's default
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n_tasks, n_out, d = self.weight.shape
        y = F.linear(z, self.weight.reshape(n_tasks * n_out, d), self.bias.reshape(-1))
        y = y.unflatten(-1, (n_tasks, n_out))
        return y.squeeze(-1) if n_out == 1 else y

    def extra_repr(self) -> str:
        n_tasks, n_out, d = self.weight.shape
        return f"n_tasks={n_tasks}, in_features={d}, out_features={n_out}"
