from __future__ import annotations

import torch

from ..validation import require
from .gramian import GramianWeighting
from .registry import register

SCALES = ("min", "median", "rmse")


@register
class AlignedMTL(GramianWeighting):
    """Aligned-MTL: the mean gradient after aligning the task gradients' principal components.

    With ``G = V Λ Vᵀ`` (the R non-zero eigenvalues), ``B = √λ_R · V Λ^{-½} Vᵀ`` and weights
    ``w = B 1/T``: the gradient matrix ``Jᵀ B`` has orthogonal components of equal norm
    ``√λ_R`` (the smallest singular value), so no task dominates and none conflicts.
    Senushkin, Patakin, Kuznetsov, Konushin, Independent Component Alignment for Multi-Task
    Learning, CVPR 2023, Algorithm 1. Eigenvalues below ``T · ε · λ_max`` count as zero, which
    gives absent tasks (zero gradient) weight 0. ``scale="median"`` or ``"rmse"`` (the mean
    eigenvalue, the authors' code) replaces ``λ_R``, as torchjd's ``scale_mode``.
    """

    name = "aligned-mtl"
    defaults = {**GramianWeighting.defaults, "scale": "min"}

    def __init__(self, n_tasks: int, **hyperparameters):
        super().__init__(n_tasks, **hyperparameters)
        require(self.hparams["scale"] in SCALES, self.name, "scale", self.hparams["scale"], " or ".join(SCALES))

    def weights(self, gramian):
        eigenvalues, eigenvectors = torch.linalg.eigh(gramian)
        kept = eigenvalues > eigenvalues.max() * gramian.shape[0] * torch.finfo(gramian.dtype).eps
        if not bool(kept.any()):
            return torch.zeros_like(gramian.diagonal())
        eigenvalues, eigenvectors = eigenvalues[kept], eigenvectors[:, kept]
        scales = {"min": eigenvalues.min, "median": eigenvalues.median, "rmse": eigenvalues.mean}
        scale = scales[self.hparams["scale"]]()
        balance = scale.sqrt() * (eigenvectors / eigenvalues.sqrt()) @ eigenvectors.T
        return balance.sum(1) / gramian.shape[0]
