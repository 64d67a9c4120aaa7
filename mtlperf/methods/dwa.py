from __future__ import annotations

import torch

from ..validation import is_real, require
from .base import WeightingMethod, weighted_backward
from .registry import register

MODES = ("epoch", "step", "ratio")


@register
class DWA(WeightingMethod):
    """Dynamic Weight Averaging: ``w = T * softmax(r / temperature)``, ``r_t = Lbar_t(k-1) / Lbar_t(k-2)``.

    ``Lbar_t(k)`` is task t's mean loss over epoch k (the trainer marks epochs
    with ``start_epoch()``); the weights are 1 for the first two epochs. Liu,
    Johns, Davison, End-to-End Multi-Task Learning with Attention, CVPR 2019.

    A task with loss exactly 0 (absent from the batch) is left out of its epoch
    mean; a ratio with an absent side is 1.

    ``mode="step"``: the SLAW authors' code, a per-step average
    ``Lbar <- ema * Lbar + (1 - ema) * L`` (starting at the first loss) and
    ``r = Lbar / Lbar_previous``, the weights used at the next step.
    ``mode="ratio"``: the SGNN-EBM code, ``r_t = L_t / L0_t`` at every step, ``L0`` the losses of a
    full pass over the training set at the start of the epoch.
    """

    name = "dwa"
    defaults = {"temperature": 2.0, "mode": "epoch", "ema": 0.9}
    needs = "the task losses"

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        temperature, mode, ema = (self.hparams[k] for k in ("temperature", "mode", "ema"))
        require(is_real(temperature) and temperature > 0, self.name, "temperature", temperature, "a number > 0")
        require(mode in MODES, self.name, "mode", mode, " or ".join(MODES))
        require(is_real(ema) and 0 <= ema < 1, self.name, "ema", ema, "a number in [0, 1)")
        self.weights: torch.Tensor | None = None
        self.average: torch.Tensor | None = None  # step mode: the running loss average
        self.epoch_sum = self.epoch_count = None  # epoch mode: this epoch so far
        self.epoch_batches = 0
        self.epoch_means: list[torch.Tensor] = []  # epoch mode: the last two finished epochs
        self.initial: torch.Tensor | None = None  # ratio mode: this epoch's training-set losses

    @property
    def wants_training_losses(self) -> bool:
        return self.hparams["mode"] == "ratio"

    def start_epoch(self, training_losses=None) -> None:
        if self.hparams["mode"] == "ratio":
            self.initial = None if training_losses is None else training_losses.detach().clone()
        if self.hparams["mode"] != "epoch" or self.epoch_batches == 0:
            return
        mean = self.epoch_sum / self.epoch_count.clamp_min(1)
        self.epoch_means = (self.epoch_means + [mean])[-2:]
        self.epoch_sum = self.epoch_count = None
        self.epoch_batches = 0
        if len(self.epoch_means) == 2:
            self.weights = self._weights_from(*reversed(self.epoch_means))

    def _backward(self, losses, parts):
        current = losses.detach()
        applied = self.weights if self.weights is not None else torch.ones_like(current)
        present = current != 0
        if self.hparams["mode"] == "ratio":
            if self.initial is None:  # no training-set pass given: the first losses stand in for it
                self.initial = current.clone()
            applied = self._weights_from(current, self.initial)
        elif self.hparams["mode"] == "step":
            previous = self.average if self.average is not None else torch.zeros_like(current)
            ema = self.hparams["ema"]
            updated = torch.where(previous != 0, ema * previous + (1 - ema) * current, current)
            self.average = torch.where(present, updated, previous)
            self.weights = self._weights_from(self.average, previous)
        else:
            if self.epoch_sum is None:
                self.epoch_sum, self.epoch_count = torch.zeros_like(current), torch.zeros_like(current)
            self.epoch_sum = self.epoch_sum + current
            self.epoch_count = self.epoch_count + present
            self.epoch_batches += 1
        return weighted_backward(losses, applied)

    def _weights_from(self, recent: torch.Tensor, older: torch.Tensor) -> torch.Tensor:
        """``T * softmax(r / temperature)`` with ``r = recent / older`` (1 where either is absent)."""
        known = (recent != 0) & (older != 0)
        one = torch.ones_like(recent)
        ratio = torch.where(known, recent / torch.where(known, older, one), one)
        return self.n_tasks * torch.softmax(ratio / self.hparams["temperature"], dim=0)
