from __future__ import annotations

import torch

from ..validation import is_real, require
from .gramian import GramianWeighting
from .pcgrad import projection_order
from .registry import register


@register
class GradVac(GramianWeighting):
    """GradVac: raise each pair's gradient cosine to its running average when it falls below it.

    For each task i and the other tasks j in random order, with ``φ = cos(g_i', g_j)`` and
    ``φ̂_ij`` the EMA of past cosines: if ``φ < φ̂_ij``,
    ``g_i' ← g_i' + ‖g_i'‖ (φ̂ √(1−φ²) − φ √(1−φ̂²)) / (‖g_j‖ √(1−φ̂²)) · g_j``; then
    ``φ̂_ij ← (1−β) φ̂_ij + β φ``; the update is ``Σ_i g_i'``. Wang, Tsvetkov, Firat, Cao, Gradient
    Vaccine: Investigating and Improving Multi-task Optimization in Massively Multilingual Models,
    ICLR 2021, Algorithm 1 (φ̂ starts at 0; ``beta`` the paper's 10⁻²; LibMTL's and torchjd's
    default is 0.5). As PCGrad's: ``g_i' = Σ_j C[i, j] g_j`` from the Gramian alone, all tasks
    taking their k-th pair at once. Pairs with a zero gradient (absent task) are skipped and keep φ̂.
    The denominator's ``ε = 10⁻⁸`` multiplies ``‖g_j‖`` (LibMTL and torchjd add it, which dominates for tiny gradients).
    """

    name = "gradvac"
    defaults = {"seed": 0, "beta": 0.01, **GramianWeighting.defaults}

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        beta = self.hparams["beta"]
        require(is_real(beta) and 0 <= beta <= 1, self.name, "beta", beta, "a number in [0, 1]")
        self.generator = torch.Generator().manual_seed(int(self.hparams["seed"]))
        self.cosine_average = torch.zeros(n_tasks, n_tasks, dtype=torch.float64)

    def weights(self, gramian):
        order = projection_order(self.n_tasks, self.generator)
        return vaccinated_coefficients(gramian, order, self.cosine_average, float(self.hparams["beta"]))


def vaccinated_coefficients(
    gramian: torch.Tensor, order: torch.Tensor, cosine_average: torch.Tensor, beta: float, eps: float = 1e-8
) -> torch.Tensor:
    """a [T] with ``Σ_i g_i' = Σ_j a_j g_j``; updates ``cosine_average`` (φ̂, [T, T], CPU) in place.

    The T x T work runs on the CPU in float64, as the scalars of MGDA's solver do.
    """
    device, g = gramian.device, gramian.detach().cpu().double()
    n_tasks = g.shape[0]
    rows = torch.arange(n_tasks)
    coefficients = torch.eye(n_tasks, dtype=torch.float64)
    dots = g.clone()  # (C G)[i, j] = g_i' · g_j
    norms = g.diagonal().clamp(min=0).sqrt()
    for k in range(order.shape[1]):
        j = order[:, k]
        norm_i = (dots * coefficients).sum(1).clamp(min=0).sqrt()
        valid = (norm_i > 0) & (norms[j] > 0)
        cosine = torch.where(valid, dots[rows, j] / (norm_i * norms[j]).where(valid, 1.0), 0.0).clamp(-1, 1)
        target = cosine_average[rows, j]
        raise_it = valid & (cosine < target)
        sine, target_sine = (1 - cosine.square()).sqrt(), (1 - target.square()).sqrt()
        step = norm_i * (target * sine - cosine * target_sine) / (norms[j] * (target_sine + eps))
        step = torch.where(raise_it, step, 0.0)
        coefficients[rows, j] += step
        dots += step[:, None] * g[j]
        cosine_average[rows, j] = torch.where(valid, (1 - beta) * target + beta * cosine, target)
    return coefficients.sum(0).to(device=device, dtype=gramian.dtype)
