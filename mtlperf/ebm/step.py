"""One SGNN-EBM training step: the NCE loss of a batch (Eq. 13) against one draw of the noise, clip, Adam."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..step import StepResult
from .energy import LAMBDA, log_potential
from .nce import nce_loss


def nce_batch_loss(
    model: torch.nn.Module,
    inputs,
    labels: torch.Tensor,
    prior: torch.Tensor,
    lam: float = LAMBDA,
    tilted: bool = True,
    sampler: torch.Generator | None = None,
) -> torch.Tensor:
    """The NCE loss of one batch: its labels (the missing filled from the noise draw) against one draw of ``prior``.

    ``labels`` [B, T] with NaN for missing; ``prior`` [B, T]: the noise model's logits on these molecules.
    """
    uniform = torch.rand(prior.shape, generator=sampler, device=prior.device)
    noise = (uniform < torch.sigmoid(prior)).long()
    data = torch.where(torch.isnan(labels), noise, labels.nan_to_num(0).long())
    nodes, edges = model(inputs)
    data_potential = log_potential(nodes, edges, model.pairs, data, lam)
    noise_potential = log_potential(nodes, edges, model.pairs, noise, lam)
    if tilted:
        return nce_loss(data_potential, noise_potential)

    def log_q(y: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(torch.where(y.bool(), prior, -prior)).sum(1)

    return nce_loss(data_potential, noise_potential, tilted=False, data_log_q=log_q(data), noise_log_q=log_q(noise))


@dataclass
class EnergyStep:
    """``step(inputs, labels, prior)`` runs one NCE optimisation step of SGNN-EBM's factor network.

    ``prior``: the noise model's logits on the batch's molecules. ``clip``: the maximum gradient norm.
    The result's ``losses`` holds the one NCE loss.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    lam: float = LAMBDA
    tilted: bool = True
    clip: float | None = None
    sampler: torch.Generator | None = None

    def __call__(self, inputs, labels: torch.Tensor, prior: torch.Tensor) -> StepResult:
        self.optimizer.zero_grad(set_to_none=True)
        loss = nce_batch_loss(self.model, inputs, labels, prior, self.lam, self.tilted, self.sampler)
        loss.backward()
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return StepResult(loss.detach().reshape(1), None)
