from __future__ import annotations

import torch

from .gramian import GramianWeighting
from .registry import register


@register
class IMTLG(GramianWeighting):
    """IMTL-G: the update ``d = Σ_t w_t g_t`` with equal projections on every task's unit gradient.

    ``d · g_t / ‖g_t‖`` the same for all t and ``Σ_t w_t = 1`` give ``G w = λ n`` with
    ``n_t = ‖g_t‖ = sqrt(G_tt)``, so ``w = G⁺ n / (1ᵀ G⁺ n)`` from the Gramian alone. Liu, Li, Kuang,
    Xue, Chen, Yang, Liao, Zhang, Towards Impartial Multi-task Learning, ICLR 2021 (the gradient part;
    its closed form ``α = g_1 Uᵀ (D Uᵀ)⁻¹`` is this one when the gradients are independent). The
    pseudo-inverse extends it to dependent gradients, as torchjd's ``IMTLG`` does; tasks with a
    zero gradient (absent) get weight 0, and all weights are 0 when ``1ᵀ G⁺ n`` vanishes (below 10⁻¹² ``‖G⁺ n‖₁``).
    """

    name = "imtl-g"

    def weights(self, gramian):
        v = torch.linalg.pinv(gramian, hermitian=True) @ gramian.diagonal().clamp(min=0).sqrt()
        total = v.sum()
        return torch.zeros_like(v) if float(total.abs()) <= 1e-12 * float(v.abs().sum()) else v / total
