from __future__ import annotations

import torch

from ..validation import is_real, require
from .base import WeightingMethod, weighted_backward
from .registry import register

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


@register
class FAMO(WeightingMethod):
    """FAMO: descend ``Σ_t z_t log L_t`` with ``z = softmax(ξ)``, ξ learnt from each step's loss decrease.

    Step: ``Σ_t w_t ∇L_t`` with ``w_t = c z_t / L_t``, ``c = (Σ_t z_t / L_t)⁻¹``. After the
    optimiser step, with ``δ_t = log L_t(θ) − log L_t(θ⁺)`` on the same batch:
    ``ξ ← ξ − β (∇_ξ zᵀδ + γ ξ)``, so tasks that improved least gain weight. Liu, Liu, Stone, Liu,
    FAMO: Fast Adaptive Multitask Optimization, NeurIPS 2023, Algorithm 1 (``lr`` β = 0.025,
    ``decay`` γ = 0.01 as the authors' code). L(θ⁺) costs one extra forward without gradient per
    step, which the training step runs (:meth:`update_after_step`). ``optimizer="adam"``: the
    authors' code, Adam on ξ with weight decay γ. Tasks with loss exactly 0 (absent) get weight 0
    and no δ.
    """

    name = "famo"
    defaults = {"lr": 0.025, "decay": 0.01, "optimizer": "sgd"}
    needs = "the task losses, and one extra forward (no gradient) after the optimiser step"
    wants_losses_after_step = True

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        lr, decay, optimizer = (self.hparams[k] for k in ("lr", "decay", "optimizer"))
        require(is_real(lr) and lr > 0, self.name, "lr", lr, "a number > 0")
        require(is_real(decay) and decay >= 0, self.name, "decay", decay, "a number >= 0")
        require(optimizer in OPTIMIZERS, self.name, "optimizer", optimizer, " or ".join(OPTIMIZERS))
        self.logits = torch.zeros(n_tasks, dtype=torch.float64, requires_grad=True)
        self.logit_optimizer = OPTIMIZERS[optimizer]([self.logits], lr=lr, weight_decay=decay)
        self.previous: torch.Tensor | None = None

    def _backward(self, losses, parts):
        values = losses.detach().double()
        if self.logits.device != values.device:  # ξ lives beside the losses: no transfer per step
            self.logits = self.logits.detach().to(values.device).requires_grad_()
            self.logit_optimizer = type(self.logit_optimizer)([self.logits], **self.logit_optimizer.defaults)
        present = values > 0
        ratio = torch.where(present, self.logits.detach().softmax(0) / values.where(present, 1.0), 0.0)
        self.previous = values
        return weighted_backward(losses, ratio / ratio.sum().clamp_min(torch.finfo(ratio.dtype).tiny))

    def update_after_step(self, losses: torch.Tensor) -> None:
        """``ξ`` takes its step from the losses of the same batch after the optimiser step."""
        if self.previous is None:
            return
        values = losses.detach().double()
        known = (self.previous > 0) & (values > 0)
        decrease = torch.where(known, self.previous.where(known, 1.0).log() - values.where(known, 1.0).log(), 0.0)
        z = self.logits.detach().softmax(0)
        self.logits.grad = z * (decrease - z @ decrease)  # ∇_ξ zᵀδ, softmax's Jacobian diag(z) − z zᵀ
        self.logit_optimizer.step()
        self.previous = None
