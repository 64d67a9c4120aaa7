from __future__ import annotations

import torch

from ..gradients.jacobian import check_chunk_size, check_implementation, head_gradients, task_gradient_dots
from ..validation import is_integer, require
from .base import WeightingMethod, weighted_backward
from .registry import register


@register
class RMTL(WeightingMethod):
    """Reinforced MTL: weight every task by its gradient's agreement with one emphasised task k.

    ``w_k = 1`` and ``w_i = max(0, cos(g_k, g_i))`` for i ≠ k, where g_i is the
    gradient of ``L_i`` w.r.t. task i's OWN head weights (the model's ``heads``, index i);
    no renormalisation; the network gradient is ``∇ Σ_i w_i L_i``. A zero gradient
    (absent task) has cosine 0. Liu, Exploration on Deep Drug Discovery, Master's
    thesis TR1854 (2018), as used in Liu, Liang, Gitter, LBTW, AAAI 2019.

    Without ``heads``, g_i is the gradient on the shared parameters instead.
    ``implementation="batched"``: one backward of ``Σ_i L_i`` gives every head row at once (head i feeds task i only).
    ``implementation="loop"``: one full backward pass per task, as the authors' code.
    """

    name = "rmtl"
    defaults = {"task": 0, "implementation": "batched", "chunk_size": 0}
    needs = "per-task gradients on each task's own head"
    uses = ("heads",)

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        check_implementation(self.name, self.hparams["implementation"])
        check_chunk_size(self.name, self.hparams["chunk_size"])
        task = self.hparams["task"]
        ok = is_integer(task) and 0 <= task < self.n_tasks
        require(ok, self.name, "task", task, f"a task index in [0, {self.n_tasks - 1}]")

    def _backward(self, losses, parts):
        k, implementation = self.hparams["task"], self.hparams["implementation"]
        if parts.heads is not None:
            grads = head_gradients(losses, parts.heads, implementation=implementation)
            dots, squared_norms = grads @ grads[k], grads.pow(2).sum(1)
        else:
            dots, squared_norms = task_gradient_dots(
                losses, parts.shared, k, implementation=implementation, chunk_size=self.hparams["chunk_size"]
            )
        norms = (squared_norms * squared_norms[k]).sqrt()
        cosines = torch.where(norms > 0, dots / norms.where(norms > 0, 1.0), 0.0)
        weights = cosines.clamp(min=0)
        weights[k] = 1.0
        return weighted_backward(losses, weights)
