"""A multi-task network: a shared trunk, then every task head as one batched layer.

A trunk is any module with ``forward_recording(x) -> (features, linear_layers)`` (the features
the heads read and a :class:`LinearIO` per Linear layer of that forward, or None when its
parameters are not all Linear layers') and ``last_linear()`` (the Linear layer GradNorm calls W).
:class:`FeedForwardTrunk` is the fingerprint networks', :class:`~mtlperf.models.gin.GINEncoder`
the molecular graphs'.
"""

from __future__ import annotations

import torch
from torch import nn

from ..sparse import SparseBits
from .layers import TaskHeads
from .parts import LinearIO, ModelParts


class FeedForwardTrunk(nn.Sequential):
    """Layers applied in order; records every ``nn.Linear`` it runs (input, pre-activation output)."""

    def __init__(self, *layers: nn.Module):
        super().__init__(*layers)
        if not any(isinstance(layer, nn.Linear) for layer in self):
            raise ValueError("the trunk needs at least one nn.Linear layer")

    def forward_recording(self, x: torch.Tensor | SparseBits) -> tuple[torch.Tensor, list[LinearIO]]:
        linear_layers = []
        for layer in self:
            y = layer(x)
            if isinstance(layer, nn.Linear):
                linear_layers.append(LinearIO(x, y, layer.weight, layer.bias))
            x = y
        return x, linear_layers

    def last_linear(self) -> nn.Linear:
        return [layer for layer in self if isinstance(layer, nn.Linear)][-1]


class MultiTaskNet(nn.Module):
    """A shared ``trunk`` and batched ``heads``; ``forward(x)`` gives the logits [B, T] (or [B, T, out])."""

    def __init__(self, trunk: nn.Module, heads: TaskHeads):
        super().__init__()
        self.trunk, self.heads = trunk, heads

    @property
    def n_tasks(self) -> int:
        return int(self.heads.weight.shape[0])

    def forward(self, x) -> torch.Tensor:
        return self.forward_with_parts(x)[0]

    def forward_with_parts(self, x) -> tuple[torch.Tensor, ModelParts]:
        """The logits and what this forward offers the weighting methods (all in its autograd graph)."""
        features, linear_layers = self.trunk.forward_recording(x)
        parts = ModelParts(
            shared=tuple(self.shared_parameters()),
            last_shared=tuple(self.last_shared_parameters()),
            heads=self.heads.weight,
            linear_layers=None if linear_layers is None else tuple(linear_layers),
            features=features,
        )
        return self.heads(features), parts

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """Weight and bias of the last shared linear layer (GradNorm's W)."""
        layer = self.trunk.last_linear()
        return [p for p in (layer.weight, layer.bias) if p is not None]
