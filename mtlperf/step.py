"""One training step of any model with any weighting method: what training runs and what the timers time.

``zero grad → forward (outputs and model parts) → task losses → weighting.backward → clip → optimizer step``,
then, for a weighting that asks (FAMO), a forward without gradient whose losses it is given.
:func:`mtlperf.train.fit`, ``mtlperf scaling``, the asv suites and the pytest-benchmark suite all run
:class:`TrainingStep`; the timers wrap a call of it and never re-implement it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .models.parts import ModelParts


class Weighting(Protocol):
    """What the step needs of a weighting: a registered method, or a comparison row's own backward."""

    def backward(self, losses: torch.Tensor, parts: ModelParts) -> torch.Tensor | None: ...


LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, labels) -> task losses [T]


@dataclass(frozen=True)
class StepResult:
    losses: torch.Tensor  # [T], detached
    weights: torch.Tensor | None  # [T] the weights applied, detached; None for methods without weights


@dataclass
class TrainingStep:
    """``step(inputs, labels)`` runs one optimisation step of ``model`` with ``weighting``.

    ``clip``: the maximum gradient norm of the model's parameters (None: no clipping).
    """

    model: torch.nn.Module
    weighting: Weighting
    optimizer: torch.optim.Optimizer
    loss_function: LossFunction
    clip: float | None = None

    def __call__(self, inputs: Any, labels: torch.Tensor) -> StepResult:
        self.optimizer.zero_grad(set_to_none=True)
        outputs, parts = self.model.forward_with_parts(inputs)
        losses = self.loss_function(outputs, labels)
        weights = self.weighting.backward(losses, parts)
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        if getattr(self.weighting, "wants_losses_after_step", False):
            with torch.no_grad():
                outputs, _ = self.model.forward_with_parts(inputs)
                self.weighting.update_after_step(self.loss_function(outputs, labels))
        return StepResult(losses.detach(), None if weights is None else weights.detach())
