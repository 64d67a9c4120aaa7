from __future__ import annotations

import torch

from ..validation import is_real, require
from .base import WeightingMethod, weighted_backward
from .registry import register

L0_SOURCES = ("first-batch", "training-set")


@register
class LBTW(WeightingMethod):
    """Loss-Balanced Task Weighting: ``w_t = (L_t / L0_t) ** alpha``, ``L = sum_t w_t L_t``.

    ``L0`` holds the task losses of the first batch of the epoch (set again by
    ``start_epoch()``; the first call ever also sets it); the weights are
    constants in the backward pass. Liu, Liang, Gitter, Loss-Balanced Task
    Weighting to Reduce Negative Transfer in Multi-Task Learning, AAAI 2019,
    Algorithm 1. The paper tests ``alpha`` 0.1 and 0.5.

    A task absent from the first batch (loss exactly 0) takes its ``L0`` from its
    first non-zero loss later in the epoch, and weight 1 until then.

    ``renormalize=True``: the authors' code, ``w <- T * w / sum(w)``.
    ``l0="training-set"``: the SGNN-EBM code, ``L0`` the losses of a full pass over the training set
    at the start of every epoch. ``refresh=N``: the SLAW code, ``L0`` set again every N steps.
    """

    name = "lbtw"
    defaults = {"alpha": 0.5, "renormalize": False, "l0": "first-batch", "refresh": 0}
    needs = "the task losses"

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        alpha, renormalize = self.hparams["alpha"], self.hparams["renormalize"]
        require(is_real(alpha) and alpha >= 0, self.name, "alpha", alpha, "a number >= 0 (the paper: 0.1, 0.5)")
        require(isinstance(renormalize, bool), self.name, "renormalize", renormalize, "true or false")
        l0, refresh = self.hparams["l0"], self.hparams["refresh"]
        require(l0 in L0_SOURCES, self.name, "l0", l0, " or ".join(L0_SOURCES))
        require(isinstance(refresh, int) and refresh >= 0, self.name, "refresh", refresh, "an integer >= 0 (0: off)")
        self.baseline: torch.Tensor | None = None

    @property
    def wants_training_losses(self) -> bool:
        return self.hparams["l0"] == "training-set"

    def start_epoch(self, training_losses=None) -> None:
        self.baseline = None if training_losses is None else training_losses.detach().clone()

    def _backward(self, losses, parts):
        current = losses.detach()
        refresh = self.hparams["refresh"]
        if self.baseline is None or (refresh and self.step % refresh == 0):
            self.baseline = current.clone()
        else:
            self.baseline = torch.where(self.baseline == 0, current, self.baseline)
        known = self.baseline != 0
        one = torch.ones_like(current)
        ratio = torch.where(known, current / torch.where(known, self.baseline, one), one)
        weights = ratio ** self.hparams["alpha"]
        if self.hparams["renormalize"]:
            # The sum is 0 only if every task is absent; the weights are then 0, not NaN.
            weights = self.n_tasks * weights / weights.sum().clamp_min(torch.finfo(weights.dtype).tiny)
        return weighted_backward(losses, weights)
