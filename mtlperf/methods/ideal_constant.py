from __future__ import annotations

import math

import torch

from .base import WeightingMethod, weighted_backward
from .registry import register


@register
class IdealConstant(WeightingMethod):
    """Fixed user weights: ``L = sum_t w_t L_t`` with ``w = weights``.

    The oracle baseline of Crawshaw & Kosecka, SLAW: Scaled Loss Approximate
    Weighting for Efficient Multi-Task Learning (2021), "IdealConstant": on
    MTRegression the weights are ``T * sigma_t^-2 / sum_j sigma_j^-2``.
    Spelled ``ideal-constant:weights=6.453;1.613;...`` (T non-negative numbers).
    """

    name = "ideal-constant"
    defaults = {"weights": None}
    needs = "the task losses"

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        values = _weight_list(self.hparams["weights"], self.n_tasks)
        self.hparams["weights"] = values
        self.weights = torch.tensor(values)

    def _backward(self, losses, parts):
        self.weights = self.weights.to(losses)  # once per device; a no-op afterwards
        return weighted_backward(losses, self.weights)


def _weight_list(weights, n_tasks: int) -> list[float]:
    accepted = f"a list of {n_tasks} finite numbers >= 0, e.g. ideal-constant:weights=" + ";".join(
        ["1.0"] * min(n_tasks, 3)
    )
    if weights is None:
        raise ValueError(f"ideal-constant: weights is required; expected {accepted}")
    if isinstance(weights, (int, float)):
        weights = [weights]
    if isinstance(weights, str):
        raise ValueError(f"ideal-constant: weights={weights!r} is a string; expected {accepted}")
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise ValueError(f"ideal-constant: weights={weights!r} is not numeric; expected {accepted}") from None
    if len(values) != n_tasks:
        raise ValueError(f"ideal-constant: weights has {len(values)} values; expected {accepted}")
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"ideal-constant: weights={values} has a negative or non-finite value; expected {accepted}")
    return values
