"""What the Gramian-family methods share: the shared update ``Σ_t w_t g_t`` with ``w`` a function of ``G = J Jᵀ``.

``G[s, t] = g_s · g_t`` for the task gradients ``g_t`` on the shared parameters, built by the
batched engine (:func:`mtlperf.gradients.jacobian.task_gramian`, from the Linear layers' inputs and
cotangents when the model records them) or, with ``implementation="loop"``, from one backward per
task; then one weighted backward. Task heads get the gradient of their own loss.
"""

from __future__ import annotations

import torch

from ..gradients.jacobian import backward_split, check_chunk_size, check_implementation, task_gramian, task_jacobian
from .base import WeightingMethod


class GramianWeighting(WeightingMethod):
    """Base class: subclasses implement :meth:`weights` (float64 Gramian [T, T] -> weights [T])."""

    defaults = {"implementation": "batched", "chunk_size": 0}
    needs = "per-task gradients of the shared parameters (their T x T Gramian)"
    uses = ("linear_layers",)

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        check_implementation(self.name, self.hparams["implementation"])
        check_chunk_size(self.name, self.hparams["chunk_size"])

    def _backward(self, losses, parts):
        weights = self.weights(self.shared_gramian(losses, parts).detach().double()).to(losses.dtype)
        backward_split(losses, parts.shared, coefficients=weights)
        return weights.detach()

    def shared_gramian(self, losses, parts) -> torch.Tensor:
        """``G = J Jᵀ`` of the task gradients on the shared parameters, by the chosen implementation."""
        if self.hparams["implementation"] == "loop":
            jacobian = task_jacobian(losses, parts.shared, implementation="loop")
            return jacobian @ jacobian.T
        chunk_size = self.hparams["chunk_size"]
        return task_gramian(losses, parts.shared, chunk_size=chunk_size, linear_layers=parts.linear_layers)

    def weights(self, gramian: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


def present(gramian: torch.Tensor) -> torch.Tensor:
    """The tasks with a non-zero gradient (a task absent from the batch has g_t = 0)."""
    return gramian.diagonal() > 0
