from __future__ import annotations

import torch

from ..validation import is_integer, is_real, require
from .base import WeightingMethod, weighted_backward
from .registry import register


@register
class SLAW(WeightingMethod):
    """Scaled Loss Approximate Weighting: weights inverse to a running std of each task loss.

    With ``b_t`` the running mean of ``L_t`` and ``a_t`` that of ``L_t**2``
    (arithmetic over a task's first ``warmup`` losses, then ``m <- beta*m + (1-beta)*x``):

        s_t = sqrt(max(a_t - b_t**2, 0)),
        w_t = T * (1 / max(s_t, eps)) / sum_j (1 / max(s_j, eps)),   L = sum_t w_t L_t.

    The statistics take the current losses before the weights are formed; the
    weights stay 1 until a task has two losses (at step 0 for all), and keep
    their last value if any ``s`` is NaN. Crawshaw & Kosecka, SLAW: Scaled Loss
    Approximate Weighting for Efficient Multi-Task Learning (2021), Algorithm 1,
    as in the authors' code (``mtcrawshaw/meta``, tag SLAW).

    A task with loss exactly 0 (absent from the batch) leaves its statistics
    unchanged; a task with fewer than two losses so far gets weight 1 and the
    others share ``T - (number of such tasks)``.
    """

    name = "slaw"
    defaults = {"beta": 0.99, "warmup": 100, "eps": 1e-5}
    needs = "the task losses"

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        beta, warmup, eps = (self.hparams[k] for k in ("beta", "warmup", "eps"))
        require(is_real(beta) and 0 <= beta < 1, self.name, "beta", beta, "a number in [0, 1)")
        require(
            is_integer(warmup) and warmup >= 1,
            self.name,
            "warmup",
            warmup,
            "an integer >= 1 (the authors' code: round(1 / (1 - beta)))",
        )
        require(is_real(eps) and eps > 0, self.name, "eps", eps, "a number > 0")
        self.count = self.mean = self.mean_square = self.weights = None

    def _backward(self, losses, parts):
        # float64: a - b**2 cancels badly in float32 once the variance is small.
        current = losses.detach().double()
        if self.count is None:
            self.count, self.mean, self.mean_square = (torch.zeros_like(current) for _ in range(3))
            self.weights = torch.ones_like(current)
        present = current != 0
        self.count = self.count + present
        rate = torch.where(self.count <= self.hparams["warmup"], 1 / self.count.clamp_min(1), 1 - self.hparams["beta"])
        self.mean = torch.where(present, self.mean + rate * (current - self.mean), self.mean)
        self.mean_square = torch.where(
            present, self.mean_square + rate * (current**2 - self.mean_square), self.mean_square
        )

        std = (self.mean_square - self.mean**2).clamp_min(0).sqrt()
        inverse = 1 / std.clamp_min(self.hparams["eps"])
        ready = self.count >= 2
        share = ready.sum() * inverse / torch.where(ready, inverse, 0).sum()
        weights = torch.where(ready, share, 1.0)
        self.weights = torch.where(torch.isfinite(std).all(), weights, self.weights)
        return weighted_backward(losses, self.weights.to(losses.dtype))
