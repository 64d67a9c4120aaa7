"""SGNN-EBM's training objective: noise-contrastive estimation with the energy-tilting term (Eq. 13, appendix F).

With the noise ``p_n = q`` (the backbone) and the tilted model ``p~ = q exp(-E)`` self-normalised
(Z = 1), the NCE objective ``E_data log p~/(p~ + q) + E_noise log q/(p~ + q)`` becomes

    L = -[ mean_data log sigmoid(-E(x, y)) + mean_noise log sigmoid(E(x, y')) ],   y' ~ q(. | x)

(minimised here): only samples of the noise are needed, never its density. ``tilted=False`` is
the authors' code (``energy_function_GNN_EBM_NCE``): the untilted ``p = exp(-E)`` against ``q``,
``-[mean log p/(p + q) on data + mean log q/(p + q) on noise]``, which needs ``log q`` of both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nce_loss(
    data_log_potential: torch.Tensor,
    noise_log_potential: torch.Tensor,
    *,
    tilted: bool = True,
    data_log_q: torch.Tensor | None = None,
    noise_log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """The NCE loss (a scalar) from ``-E`` of the data [B] and of one noise sample per molecule [B]."""
    if tilted:
        return F.softplus(-data_log_potential).mean() + F.softplus(noise_log_potential).mean()
    if data_log_q is None or noise_log_q is None:
        raise ValueError("the untilted NCE (tilted=False) needs log q of the data and of the noise")
    return F.softplus(data_log_q - data_log_potential).mean() + F.softplus(noise_log_potential - noise_log_q).mean()
