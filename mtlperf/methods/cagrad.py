from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize

from ..validation import is_real, require
from .gramian import GramianWeighting
from .registry import register


@register
class CAGrad(GramianWeighting):
    """CAGrad: the update maximising the worst task's improvement within a ball around the mean gradient.

    With ``g_0 = (1/T) Σ_t g_t`` and ``g_w = Σ_t w_t g_t``, solve the dual
    ``w = argmin_{w ∈ Δ} g_wᵀ g_0 + c ‖g_0‖ ‖g_w‖`` (all terms from the Gramian) and update along
    ``d = g_0 + (c ‖g_0‖ / ‖g_w‖) g_w``: coefficients ``1/T + c ‖g_0‖ / ‖g_w‖ · w``. Liu, Liu, Jin,
    Stone, Liu, Conflict-Averse Gradient Descent for Multi-task Learning, NeurIPS 2021, Algorithm 1;
    ``c = 0`` is plain mean-gradient descent. The dual is solved by scipy's SLSQP on the simplex
    (as the authors' code does, here with the analytic gradient), to ``ftol=1e-10``, from uniform weights.
    ``rescale=True``: the authors' code's ``d / (1 + c²)``.
    """

    name = "cagrad"
    defaults = {**GramianWeighting.defaults, "c": 0.4, "rescale": False}

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        c = self.hparams["c"]
        require(is_real(c) and c >= 0, self.name, "c", c, "a number >= 0")
        require(isinstance(self.hparams["rescale"], bool), self.name, "rescale", self.hparams["rescale"], "a bool")

    def weights(self, gramian):
        return cagrad_coefficients(gramian, float(self.hparams["c"]), self.hparams["rescale"])


def cagrad_coefficients(gramian: torch.Tensor, c: float, rescale: bool = False) -> torch.Tensor:
    """The coefficients a [T] with ``d = Σ_t a_t g_t``, from the Gramian alone."""
    n_tasks = gramian.shape[0]
    mean = torch.full((n_tasks,), 1.0 / n_tasks, dtype=gramian.dtype, device=gramian.device)
    g0_norm = float(mean @ gramian @ mean) ** 0.5
    if c == 0 or g0_norm == 0:
        return mean
    g = gramian.cpu().numpy()
    g_mean = g @ mean.cpu().numpy()

    def objective(w):
        return w @ g_mean + c * g0_norm * np.sqrt(max(w @ g @ w, 0.0) + 1e-16)

    def gradient(w):
        return g_mean + c * g0_norm * (g @ w) / np.sqrt(max(w @ g @ w, 0.0) + 1e-16)

    solved = minimize(
        objective,
        np.full(n_tasks, 1.0 / n_tasks),
        jac=gradient,
        bounds=[(0.0, 1.0)] * n_tasks,
        constraints={"type": "eq", "fun": lambda w: w.sum() - 1.0},
        method="SLSQP",
        options={"ftol": 1e-10, "maxiter": 500},
    )
    w = torch.as_tensor(np.clip(solved.x, 0.0, 1.0), dtype=gramian.dtype, device=gramian.device)
    gw_norm = float(w @ gramian @ w) ** 0.5
    coefficients = mean + (c * g0_norm / max(gw_norm, 1e-12)) * w
    return coefficients / (1 + c**2) if rescale else coefficients
