from __future__ import annotations

import torch

from .dual_cone import dual_cone_weights
from .gramian import GramianWeighting
from .registry import register


@register
class DualProj(GramianWeighting):
    """DualProj: the mean gradient projected onto the dual cone of the task gradients.

    ``d = π_J(g_0)``, ``g_0 = (1/T) Σ_t g_t``, with ``π_J`` the projection onto
    ``{d : g_t · d ≥ 0 for all t}``: the closest update to the mean gradient that increases no
    task's loss to first order. Weights ``v = argmin_{v ≥ 1/T} vᵀ G v`` from the Gramian alone.
    The projection of GEM (Lopez-Paz & Ranzato, Gradient Episodic Memory for Continual Learning,
    NeurIPS 2017, eq. 10-11, there the current task's gradient against the past tasks'), applied to
    the mean gradient as torchjd's ``DualProj`` does; solved exactly by non-negative least squares.
    """

    name = "dualproj"

    def weights(self, gramian):
        preferences = torch.full((1, gramian.shape[0]), 1.0 / gramian.shape[0], dtype=gramian.dtype)
        return dual_cone_weights(gramian, preferences)[0]
