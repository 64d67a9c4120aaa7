from __future__ import annotations

import torch

from .base import WeightingMethod, weighted_backward
from .registry import register


@register
class Constant(WeightingMethod):
    """MTL with equal weights: ``L = sum_t L_t`` (``w_t = 1``).

    The plain multi-task baseline of every paper here (LBTW's "MTL", SLAW's
    "Constant"). Caruana, Multitask Learning, Machine Learning 28 (1997).
    """

    name = "constant"
    needs = "the task losses"

    def _backward(self, losses, parts):
        return weighted_backward(losses, torch.ones_like(losses))
