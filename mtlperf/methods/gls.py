from __future__ import annotations

import torch

from .base import WeightingMethod, weighted_backward
from .registry import register


@register
class GLS(WeightingMethod):
    """Geometric loss strategy: minimise ``(Π_t L_t)^(1/T) = exp(mean_t log L_t)``.

    Its gradient is ``Σ_t w_t ∇L_t`` with ``w_t = GLS / (T L_t)``, applied as constant weights;
    the product is taken as exp of the mean log so that hundreds of tasks do not underflow. Tasks
    with loss exactly 0 (absent from the batch) are left out of the product (weight 0; T counts
    the others). Chennupati, Sistu, Yogamani, Rawashdeh, MultiNet++: Multi-Stream Feature
    Aggregation and Geometric Loss Strategy for Multi-Task Learning, CVPR Workshops 2019.
    """

    name = "gls"

    def _backward(self, losses, parts):
        values = losses.detach().double()
        weights = torch.zeros_like(values)
        present = values > 0
        if bool(present.any()):
            logs = values[present].log()
            weights[present] = logs.mean().exp() / (int(present.sum()) * values[present])
        return weighted_backward(losses, weights)
