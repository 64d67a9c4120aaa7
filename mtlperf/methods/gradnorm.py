from __future__ import annotations

import torch

from ..gradients.jacobian import check_chunk_size, check_implementation, head_gradients, task_gradient_norms
from ..validation import is_real, require
from .base import WeightingMethod, weighted_backward
from .registry import register

LAYERS = ("last_shared", "heads")


@register
class GradNorm(WeightingMethod):
    """GradNorm: learn weights that equalise the tasks' gradient norms on the last shared layer W.

    ``G_i = w_i ‖∇_W L_i‖``, ``r_i = (L_i / L0_i) / mean_j (L_j / L0_j)`` with ``L0``
    the first step's losses, and ``L_grad = Σ_i |G_i − mean(G) r_i^α|`` (targets
    held constant) minimised over w by the method's own Adam (``lr``); then
    ``w ← T w / Σ w``. The network gradient is ``∇ Σ_i w_i(t) L_i`` with this
    step's weights, which are returned. W is the model's ``last_shared`` layer (without it:
    all shared parameters); when that layer is one of the model's ``linear_layers`` the
    batched norms come from its input and output cotangents.
    Chen, Badrinarayanan, Lee, Rabinovich, GradNorm, ICML 2018, Algorithm 1.

    A task whose loss is exactly 0 (absent from the batch) has a neutral ratio
    ``r_i = 1`` and is left out of both means; ``L0_i`` is its first nonzero loss.
    ``update_first=True``: SLAW code order — w is updated first and the network gradient uses w(t+1).
    ``implementation="loop"``: one full backward pass per task, as the authors' code.
    ``layer="heads"``: the SGNN-EBM code (``src/main_MTL.py``), W_i is task i's own head (the model's ``heads``).
    """

    name = "gradnorm"
    defaults = {
        "alpha": 0.12,
        "lr": 0.025,
        "update_first": False,
        "implementation": "batched",
        "chunk_size": 0,
        "layer": "last_shared",
    }
    needs = "per-task gradient norms on the last shared layer (or on each task's head)"
    uses = ("last_shared", "linear_layers", "heads")

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        check_implementation(self.name, self.hparams["implementation"])
        check_chunk_size(self.name, self.hparams["chunk_size"])
        lr, alpha = self.hparams["lr"], self.hparams["alpha"]
        require(is_real(lr) and lr > 0, self.name, "lr", lr, "a positive number")
        require(is_real(alpha) and alpha >= 0, self.name, "alpha", alpha, "a number >= 0")
        layer = self.hparams["layer"]
        require(layer in LAYERS, self.name, "layer", layer, " or ".join(LAYERS))
        self.weights: torch.Tensor | None = None  # learnt w, created on the device of the first losses
        self.initial_losses: torch.Tensor | None = None
        self._optimizer: torch.optim.Adam | None = None

    def _backward(self, losses, parts):
        norms = self._gradient_norms(losses, parts)
        if self.weights is None:
            self.weights = torch.ones_like(losses.detach()).requires_grad_()
            self.initial_losses = torch.zeros_like(self.weights.detach())
            self._optimizer = torch.optim.Adam([self.weights], lr=float(self.hparams["lr"]))
        applied = self.weights.detach().clone()
        self._update_weights(losses.detach(), norms.detach())
        if self.hparams["update_first"]:
            applied = self.weights.detach().clone()
        return weighted_backward(losses, applied)

    def _gradient_norms(self, losses: torch.Tensor, parts) -> torch.Tensor:
        """``‖∇_W L_i‖`` [T] on the last shared layer, or on task i's own head (``layer="heads"``)."""
        implementation = self.hparams["implementation"]
        if self.hparams["layer"] == "heads":
            if parts.heads is None:
                raise ValueError(f"{self.name}: layer=heads needs a model whose forward gives its task heads")
            return head_gradients(losses, parts.heads, implementation=implementation).norm(dim=1)
        layer = parts.last_shared if parts.last_shared is not None else parts.shared
        return task_gradient_norms(
            losses,
            layer,
            implementation=implementation,
            chunk_size=self.hparams["chunk_size"],
            layer=parts.linear_layer_of(layer),
        )

    def _update_weights(self, losses: torch.Tensor, norms: torch.Tensor) -> None:
        first_seen = (self.initial_losses == 0) & (losses != 0)
        self.initial_losses[first_seen] = losses[first_seen]
        present = (losses != 0) & (self.initial_losses != 0)
        if not bool(present.any()):
            return
        weighted_norms = self.weights.detach() * norms
        inverse_rate = torch.where(present, losses / self.initial_losses.where(present, 1.0), 1.0)
        relative_rate = torch.where(present, inverse_rate / inverse_rate[present].mean(), 1.0)
        target = weighted_norms[present].mean() * relative_rate ** float(self.hparams["alpha"])
        # d L_grad / d w_i = sign(G_i − target_i) ‖∇_W L_i‖
        self.weights.grad = torch.where(present, torch.sign(weighted_norms - target) * norms, 0.0)
        self._optimizer.step()
        with torch.no_grad():
            self.weights.mul_(self.n_tasks / self.weights.sum())
