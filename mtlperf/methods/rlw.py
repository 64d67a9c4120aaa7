from __future__ import annotations

import torch

from .base import WeightingMethod, weighted_backward
from .registry import register


@register
class RLW(WeightingMethod):
    """Random loss weighting: ``w = softmax(z)``, ``z ~ N(0, I)`` drawn anew at every step.

    Lin, Ye, Xu, Shi, Zhang, Reasonable Effectiveness of Random Weighting: A Litmus Test for
    Multi-Task Learning, TMLR 2022 (the normal distribution of their default). The draws come from
    the method's own generator seeded with ``seed``.
    """

    name = "rlw"
    defaults = {"seed": 0}

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        self.generator = torch.Generator().manual_seed(int(self.hparams["seed"]))

    def _backward(self, losses, parts):
        weights = torch.randn(self.n_tasks, generator=self.generator, dtype=torch.float64).softmax(0)
        return weighted_backward(losses, weights.to(losses.device))
