from __future__ import annotations

import numpy as np
import torch

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
    ``c = 0`` is plain mean-gradient descent. The dual is solved by accelerated projected gradient
    on the simplex to a Frank-Wolfe gap of 10⁻⁸ |F| (:func:`dual_weights`; the authors' code uses
    scipy's SLSQP, torchjd cvxpy's Clarabel).
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
    g = gramian.detach().cpu().double().numpy()
    w = torch.as_tensor(dual_weights(g, g @ mean.cpu().double().numpy(), c * g0_norm), dtype=gramian.dtype)
    w = w.to(gramian.device)
    gw_norm = float(w @ gramian @ w) ** 0.5
    coefficients = mean + (c * g0_norm / max(gw_norm, 1e-12 * g0_norm)) * w
    return coefficients / (1 + c**2) if rescale else coefficients


def dual_weights(g: np.ndarray, g_mean: np.ndarray, radius: float, tolerance: float = 1e-8) -> np.ndarray:
    """``argmin_{w ∈ Δ} wᵀ G g_0 + radius · sqrt(wᵀGw)`` by accelerated projected gradient (CPU).

    FISTA with backtracking and adaptive restart, from uniform weights, until the Frank-Wolfe gap
    ``∇F(w)ᵀw − min_t ∇F(w)_t`` (a bound on ``F(w) − F*``) is at most ``tolerance · |F(w)|``.
    ``F`` is homogeneous (G → sG, radius → √s radius scales F by s), so the problem is solved at
    unit mean diagonal and its small safeguards stay small whatever the gradients' scale.
    """
    scale = float(np.trace(g)) / len(g)
    if not scale > 0:
        return np.full(len(g), 1.0 / len(g))
    g, g_mean, radius = g / scale, g_mean / scale, radius / np.sqrt(scale)

    def objective(w):
        return w @ g_mean + radius * np.sqrt(max(w @ g @ w, 0.0) + 1e-16)

    def gradient(w):
        return g_mean + radius * (g @ w) / np.sqrt(max(w @ g @ w, 0.0) + 1e-16)

    w = y = np.full(len(g), 1.0 / len(g))
    momentum, lipschitz = 1.0, max(float(np.abs(g).max()), 1e-300) * radius / max(float(np.sqrt(w @ g @ w)), 1e-12)
    for _ in range(10_000):
        gradient_y, objective_y = gradient(y), objective(y)
        while True:  # backtracking: the quadratic model at y must bound F at the projected step
            candidate = simplex_projection(y - gradient_y / lipschitz)
            step = candidate - y
            if objective(candidate) <= objective_y + gradient_y @ step + 0.5 * lipschitz * step @ step + 1e-15:
                break
            lipschitz *= 2
        gradient_w = gradient(candidate)
        if gradient_w @ candidate - gradient_w.min() <= tolerance * abs(objective(candidate)):
            return candidate
        following = (1 + np.sqrt(1 + 4 * momentum**2)) / 2
        if gradient_w @ (candidate - w) > 0:  # the objective went up along the momentum: restart it
            following, y = 1.0, candidate
        else:
            y = candidate + ((momentum - 1) / following) * (candidate - w)
        w, momentum, lipschitz = candidate, following, 0.9 * lipschitz
    return w


def simplex_projection(v: np.ndarray) -> np.ndarray:
    """The Euclidean projection of v onto the probability simplex (Held, Wolfe & Crowder 1974)."""
    descending = np.sort(v)[::-1]
    shifted = np.cumsum(descending) - 1
    k = np.arange(1, len(v) + 1)
    rho = k[descending - shifted / k > 0][-1]
    return np.maximum(v - shifted[rho - 1] / rho, 0.0)
