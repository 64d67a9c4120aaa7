from __future__ import annotations

import torch

from .dual_cone import dual_cone_weights
from .gramian import GramianWeighting
from .registry import register


@register
class UPGrad(GramianWeighting):
    """UPGrad: the mean of every task gradient projected onto the dual cone of all of them.

    ``d = (1/T) Σ_i π_J(g_i)`` with ``π_J`` the projection onto ``{d : g_t · d ≥ 0 for all t}``, so
    no task's loss increases to first order. ``π_J(g_i) = Jᵀ v_i`` with
    ``v_i = argmin_{v ≥ e_i / T} vᵀ G v`` (×T), from the Gramian alone; weights ``Σ_i v_i``.
    Quinton & Rey, Jacobian Descent for Multi-Objective Optimization, 2024 (the mean preference).
    The T problems are solved exactly by non-negative least squares
    (:func:`~mtlperf.methods.dual_cone.dual_cone_weights`); torchjd solves them with quadprog on a
    trace-normalised Gramian plus ``1e-4 I``.
    """

    name = "upgrad"

    def weights(self, gramian):
        preferences = torch.eye(gramian.shape[0], dtype=gramian.dtype) / gramian.shape[0]
        return dual_cone_weights(gramian, preferences).sum(0)
