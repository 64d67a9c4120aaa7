"""What a model offers the weighting methods for one forward pass: the model-parts contract.

A model's ``forward_with_parts(x)`` returns its outputs and a :class:`ModelParts` built in that
forward (nothing is left on the module). A weighting method reads only the fields it declares in
``uses``; a field is ``None`` when the model cannot give it, and each method documents what it does
then (a fallback with the same results, slower). A plain list of parameters is
``ModelParts(shared=...)``: every fast path off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
from torch import nn

from ..sparse import SparseBits


class LinearIO(NamedTuple):
    """One Linear layer in this forward's graph: ``output = input Wᵀ + b`` (output before any activation)."""

    input: torch.Tensor | SparseBits
    output: torch.Tensor
    weight: nn.Parameter
    bias: nn.Parameter | None


@dataclass(frozen=True)
class ModelParts:
    """The pieces of one forward a weighting method may use.

    - ``shared``: the shared parameters (every method; the update of their ``.grad`` is the method's).
    - ``last_shared``: weight (and bias) of the last shared layer (GradNorm's W).
    - ``heads``: the head weight parameter itself, [T, ...]: index t is task t's head (RMTL).
    - ``linear_layers``: the shared Linear layers of this forward, input to output (the Gramian and
      gradient-norm fast paths; they apply when the layers hold exactly the parameters differentiated).
    - ``features``: the shared representation the heads read, [B, d] (torchjd's ``mtl_backward``).
    """

    shared: tuple[torch.Tensor, ...]
    last_shared: tuple[torch.Tensor, ...] | None = None
    heads: torch.Tensor | None = None
    linear_layers: tuple[LinearIO, ...] | None = None
    features: torch.Tensor | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shared", tuple(self.shared))
        for name in ("last_shared", "linear_layers"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.heads is not None and not self.heads.is_leaf:
            raise ValueError("ModelParts.heads must be the head weight parameter itself, not a view of it")

    @classmethod
    def of(cls, parts: ModelParts | Sequence[torch.Tensor]) -> ModelParts:
        """``parts`` itself, or a sequence of shared parameters as parts with nothing else."""
        return parts if isinstance(parts, ModelParts) else cls(shared=tuple(parts))

    def missing(self, names: Sequence[str]) -> list[str]:
        """Which of the fields ``names`` this model could not give (``None``)."""
        unknown = sorted(set(names) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown model part(s) {', '.join(unknown)}; valid: {', '.join(PART_NAMES)}")
        return [name for name in names if getattr(self, name) is None]

    def linear_layer_of(self, params: Sequence[torch.Tensor]) -> LinearIO | None:
        """The Linear layer of this forward whose weight and bias are exactly ``params`` (None if none is)."""
        wanted = {id(p) for p in params}
        for layer in self.linear_layers or ():
            if {id(p) for p in (layer.weight, layer.bias) if p is not None} == wanted:
                return layer
        return None


PART_NAMES = tuple(f.name for f in fields(ModelParts))
