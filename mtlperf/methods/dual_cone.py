"""The projection onto the dual cone of the task gradients, from their Gramian alone (UPGrad, DualProj)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls

from .gramian import present


def dual_cone_weights(gramian: torch.Tensor, preferences: torch.Tensor) -> torch.Tensor:
    """v [K, T] with ``Jᵀ v_k`` the projection of ``Jᵀ u_k`` onto ``{d : J d ≥ 0}``, for each row u_k.

    The projection's weights are ``v = argmin_{v ≥ u} vᵀ G v`` (Quinton & Rey, Jacobian Descent for
    Multi-Objective Optimization, 2024, Proposition 1). With ``G = AᵀA`` (``A = Λ^½ Qᵀ`` from G's
    eigendecomposition) and ``v = u + z`` this is the non-negative least-squares problem
    ``min_{z ≥ 0} ‖A z + A u‖²``, solved exactly by Lawson-Hanson's active set (scipy's ``nnls``)
    on the CPU. Tasks with a zero gradient (absent from the batch) are left out: weight 0.
    """
    device, dtype = gramian.device, gramian.dtype
    weights = np.zeros(tuple(preferences.shape))
    active = present(gramian).cpu().numpy()
    if active.any():
        g = gramian.detach().cpu().double().numpy()[np.ix_(active, active)]
        eigenvalues, eigenvectors = np.linalg.eigh(g)
        a = np.sqrt(eigenvalues.clip(min=0.0))[:, None] * eigenvectors.T
        for k, u in enumerate(preferences.detach().cpu().double().numpy()[:, active]):
            z, _ = nnls(a, -(a @ u))
            weights[k, active] = u + z
    return torch.as_tensor(weights, dtype=dtype, device=device)
