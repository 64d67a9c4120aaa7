from __future__ import annotations

import torch

from ..validation import is_real, require
from .base import WeightingMethod
from .registry import register


@register
class Uncertainty(WeightingMethod):
    """Uncertainty weighting: ``L = sum_t 0.5 * exp(-s_t) * L_t + 0.5 * s_t``, with ``s_t = log sigma_t^2`` learnt.

    ``s`` (one per task, from ``parameters()``) is optimised with the network;
    the returned weights are ``0.5 * exp(-s)``. Kendall, Gal, Cipolla, Multi-Task
    Learning Using Uncertainty to Weigh Losses for Scene Geometry and Semantics,
    CVPR 2018 (regression form, written in ``s = log sigma^2`` as they advise), ``s`` starting at 0.

    A task with loss exactly 0 (absent from the batch) drops both its terms, so
    its ``s`` is not pushed up by batches that say nothing about it.

    ``s`` is created on the CPU and moved in place (same Parameter, so an
    optimiser built earlier still holds it) by ``to(device)``, or by the first
    ``backward`` on another device.

    ``init=-0.6931471805599453`` (= -log 2): the SLAW authors' code, every weight starting at 1.
    """

    name = "uncertainty"
    defaults = {"init": 0.0}
    needs = "the task losses"

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        init = self.hparams["init"]
        require(is_real(init), self.name, "init", init, "a finite number (initial log-variance; -0.6931... = -log 2)")
        self.log_variance = torch.nn.Parameter(torch.full((self.n_tasks,), float(init)))

    def parameters(self) -> list[torch.Tensor]:
        return [self.log_variance]

    def to(self, device: torch.device | str) -> Uncertainty:
        """Move ``s`` (and its gradient) to ``device`` in place; returns self."""
        with torch.no_grad():
            self.log_variance.data = self.log_variance.data.to(device)
            if self.log_variance.grad is not None:
                self.log_variance.grad = self.log_variance.grad.to(device)
        return self

    def _backward(self, losses, parts):
        if self.log_variance.device != losses.device:
            self.to(losses.device)
        log_variance = self.log_variance.to(losses.dtype)
        precision = 0.5 * torch.exp(-log_variance)
        terms = precision * losses + 0.5 * log_variance
        torch.where(losses.detach() != 0, terms, torch.zeros_like(terms)).sum().backward()
        return precision.detach()
