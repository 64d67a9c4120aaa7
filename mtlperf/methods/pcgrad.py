from __future__ import annotations

import torch

from ..gradients.jacobian import backward_split, task_jacobian
from .gramian import GramianWeighting
from .registry import register


@register
class PCGrad(GramianWeighting):
    """PCGrad: project each task gradient off the others it conflicts with, then sum.

    With ``g_i`` the gradient of ``L_i`` on the shared parameters, for each task i
    and the other tasks j in random order: ``g_i' ← g_i' − (g_i'·g_j / ‖g_j‖²) g_j``
    when ``g_i'·g_j < 0`` (projection on the ORIGINAL g_j; zero g_j are skipped);
    the shared gradient is ``Σ_i g_i'``. Task-specific parameters (heads) get
    ``∇ Σ_i L_i``, i.e. each head its own loss's gradient. No weights (returns None).
    Yu, Kumar, Gupta, Levine, Hausman, Finn, Gradient Surgery for Multi-Task
    Learning, NeurIPS 2020, Algorithm 1.

    The orders come from the method's own generator seeded with ``seed``.
    ``implementation="batched"``: ``Σ_i g_i' = Σ_j a_j g_j`` with a computed from the Gramian ``J Jᵀ`` alone
    (from the layers' cotangents when the model gives ``linear_layers``), then one weighted backward.
    ``implementation="loop"``: one full backward pass per task and projections of P-long vectors, as the authors' code.
    """

    name = "pcgrad"
    defaults = {"seed": 0, **GramianWeighting.defaults}

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        self.generator = torch.Generator().manual_seed(int(self.hparams["seed"]))

    def _backward(self, losses, parts):
        order = projection_order(self.n_tasks, self.generator)
        if self.hparams["implementation"] == "loop":
            jacobian = task_jacobian(losses, parts.shared, implementation="loop")
            backward_split(losses, parts.shared, shared_gradient=project_conflicts(jacobian, order).sum(0))
        else:
            coefficients = conflict_free_coefficients(self.shared_gramian(losses, parts), order)
            backward_split(losses, parts.shared, coefficients=coefficients)
        return None


def projection_order(n_tasks: int, generator: torch.Generator) -> torch.Tensor:
    """[T, T-1] (CPU): row i lists the tasks other than i in a uniformly random order."""
    keys = torch.rand(n_tasks, n_tasks, generator=generator)
    keys.fill_diagonal_(2.0)  # task i itself sorts last and is dropped
    return keys.argsort(dim=1)[:, : n_tasks - 1]


def project_conflicts(jacobian: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The projected gradients ``g_i'`` [T, P], projecting P-long vectors pair by pair (the authors' way)."""
    projected = jacobian.clone()
    for i, others in enumerate(order.tolist()):
        for j in others:
            dot = projected[i] @ jacobian[j]
            if dot < 0:  # never for a zero g_j
                projected[i] -= (dot / (jacobian[j] @ jacobian[j])) * jacobian[j]
    return projected


def conflict_free_coefficients(gramian: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """a [T] with ``Σ_i g_i' = Σ_j a_j g_j``, from the Gramian ``G[s, t] = g_s·g_t`` alone.

    Write ``g_i' = Σ_j C[i, j] g_j`` (C starts as the identity): then
    ``g_i'·g_j = (C G)[i, j]`` and a projection on g_j subtracts
    ``(C G)[i, j] / G[j, j]`` from ``C[i, j]``. All tasks take their k-th projection at once.
    """
    gram = gramian.double()
    n_tasks = gram.shape[0]
    order = order.to(gram.device)
    rows = torch.arange(n_tasks, device=gram.device)
    coefficients = torch.eye(n_tasks, dtype=gram.dtype, device=gram.device)
    squared_norms = gram.diagonal()
    for k in range(order.shape[1]):
        j = order[:, k]
        dots = (coefficients * gram[j]).sum(1)  # g_i' · g_{j_i}, G symmetric
        conflicting = (dots < 0) & (squared_norms[j] > 0)
        step = torch.where(conflicting, dots / squared_norms[j].where(conflicting, 1.0), 0.0)
        coefficients[rows, j] -= step
    return coefficients.sum(0).to(gramian.dtype)
