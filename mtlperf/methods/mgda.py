from __future__ import annotations

import torch

from ..validation import is_real, positive_int, require
from .gramian import GramianWeighting, present
from .registry import register


@register
class MGDA(GramianWeighting):
    """MGDA: the min-norm point of the convex hull of the task gradients, ``w = argmin_{w ∈ Δ} wᵀ G w``.

    The update ``Σ_t w_t g_t`` decreases every task's loss unless the point is 0 (Pareto stationary).
    Solved by Frank-Wolfe with exact line search on the Gramian (Sener & Koltun, Multi-Task Learning
    as Multi-Objective Optimization, NeurIPS 2018, Algorithm 2), from uniform weights, until the
    Frank-Wolfe gap ``wᵀGw − min_t (Gw)_t`` is at most ``tolerance`` × ``max_t G_tt`` or after
    ``iterations`` steps. Tasks with a zero gradient (absent from the batch) are left out of the
    hull (weight 0): with them in it the min-norm point is 0 and no step moves the shared layers.
    The paper's gradient normalisations are not applied (its default "none").
    """

    name = "mgda"
    defaults = {**GramianWeighting.defaults, "iterations": 250, "tolerance": 1e-6}

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        positive_int(self.hparams["iterations"], f"{self.name}: iterations")
        tolerance = self.hparams["tolerance"]
        require(is_real(tolerance) and tolerance > 0, self.name, "tolerance", tolerance, "a number > 0")

    def weights(self, gramian):
        return min_norm_weights(gramian, self.hparams["iterations"], self.hparams["tolerance"])


def min_norm_weights(gramian: torch.Tensor, iterations: int, tolerance: float) -> torch.Tensor:
    """``argmin_{w ∈ Δ} wᵀ G w`` over the tasks with a gradient, by Frank-Wolfe with exact line search.

    The T x T problem is solved on the CPU: each iteration branches on a scalar, which on a GPU
    would synchronise the device every iteration.
    """
    device, gramian = gramian.device, gramian.cpu()
    weights = torch.zeros(gramian.shape[0], dtype=gramian.dtype)
    active = present(gramian)
    if not bool(active.any()):
        return weights.to(device)
    g = gramian[active][:, active]
    w = torch.full((g.shape[0],), 1.0 / g.shape[0], dtype=g.dtype, device=g.device)
    scale = g.diagonal().max()
    for _ in range(iterations):
        gw = g @ w
        t = int(gw.argmin())
        a, b, c = w @ gw, gw[t], g[t, t]
        if a - b <= tolerance * scale:  # the Frank-Wolfe gap bounds the distance to the optimum
            break
        step = ((a - b) / (a - 2 * b + c)).clamp(0.0, 1.0)
        w = (1 - step) * w
        w[t] += step
    weights[active] = w
    return weights.to(device)
