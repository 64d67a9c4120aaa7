from __future__ import annotations

import torch

from ..validation import is_real, positive_int, require
from .gramian import GramianWeighting, present
from .registry import register


@register
class NashMTL(GramianWeighting):
    """Nash-MTL: the Nash bargaining solution, the weights ``α > 0`` with ``G α = 1/α``.

    The update ``d = Σ_t α_t g_t`` gives every task the same utility ``α_t (g_t · d) = 1``, and
    ``‖d‖² = αᵀGα = T``. Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, Multi-Task
    Learning as a Bargaining Game, ICML 2022, Algorithm 1. ``G α = 1/α`` is the stationarity
    condition of the strictly convex, self-concordant ``½ αᵀGα − Σ_t log α_t``, minimised here by
    damped Newton (on the CPU, float64) until ``max_t |α_t (Gα)_t − 1| ≤ tolerance``;
    ``G + 10⁻¹² mean(G_tt) I`` keeps a solution when a positive combination of the gradients
    vanishes. Absent tasks get 0. The authors' code (and torchjd's) approximates the same α by a
    sequence of convex programs (cvxpy) and adds two options: ``max_norm=1.0`` caps ``‖d‖`` and
    ``update_every=N`` re-solves every N steps (defaults here: the paper's, no cap, every step).
    """

    name = "nash-mtl"
    defaults = {
        **GramianWeighting.defaults,
        "max_norm": 0.0,
        "update_every": 1,
        "tolerance": 1e-9,
        "iterations": 100,
    }

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        hp = self.hparams
        max_norm, tolerance = hp["max_norm"], hp["tolerance"]
        require(is_real(max_norm) and max_norm >= 0, self.name, "max_norm", max_norm, "a number >= 0")
        require(is_real(tolerance) and tolerance > 0, self.name, "tolerance", tolerance, "a number > 0")
        positive_int(hp["update_every"], f"{self.name}: update_every")
        positive_int(hp["iterations"], f"{self.name}: iterations")
        self.alpha: torch.Tensor | None = None
        self.calls = 0

    def weights(self, gramian):
        if self.alpha is None or self.calls % self.hparams["update_every"] == 0:
            self.alpha = bargaining_weights(gramian, self.hparams["iterations"], self.hparams["tolerance"])
        self.calls += 1
        alpha, max_norm = self.alpha, self.hparams["max_norm"]
        norm = float(alpha @ gramian @ alpha) ** 0.5
        return alpha * (max_norm / norm) if 0 < max_norm < norm else alpha


def bargaining_weights(gramian: torch.Tensor, iterations: int, tolerance: float) -> torch.Tensor:
    """α [T] with ``G α = 1/α`` on the tasks with a gradient (0 elsewhere), by damped Newton."""
    device, gramian = gramian.device, gramian.detach().cpu().double()
    weights = torch.zeros(gramian.shape[0], dtype=torch.float64)
    active = present(gramian)
    if bool(active.any()):
        g = gramian[active][:, active]
        g = g + 1e-12 * g.diagonal().mean() * torch.eye(g.shape[0], dtype=g.dtype)
        alpha = g.diagonal().rsqrt()  # the solution when the gradients are orthogonal
        for _ in range(iterations):
            ga = g @ alpha
            if float((alpha * ga - 1).abs().max()) <= tolerance:
                break
            gradient = ga - 1 / alpha
            step = torch.linalg.solve(g + torch.diag(alpha.pow(-2)), gradient)
            decrement = float(gradient @ step) ** 0.5
            # the damped step of a self-concordant function stays in α > 0 and always decreases it
            alpha = alpha - (step / (1 + decrement) if decrement > 0.25 else step)
        weights[active] = alpha
    return weights.to(device=device, dtype=gramian.dtype)
