"""Per-task losses with missing labels: one loss per task, vectorised over tasks."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

REDUCTIONS = ("labelled", "batch")


def task_losses(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    reduction: str = "labelled",
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy of every task, [T], from logits [B, T] and labels [B, T] (NaN = missing).

    ``l_bt = -(y log s(z) + (1 - y) log(1 - s(z)))``, row weight ``c_bt = pos_weight_t`` for
    positives and 1 for negatives (1 for all without ``pos_weight``), ``m_bt = 1`` when labelled:

    - ``"labelled"``: ``L_t = sum_b m c l / sum_b m c``, the mean over the task's labelled rows
      (a class-weighted mean, as ``nn.CrossEntropyLoss(weight=...)`` in SLAW's code).
    - ``"batch"``: ``L_t = sum_b m c l / B``, masked rows count in the denominator (LBTW's code).

    A task without a labelled row in the batch gives exactly 0 and no gradient.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}")
    if logits.dim() != 2:
        raise ValueError(
            f"logits must be [batch, tasks], got shape {tuple(logits.shape)}; use regression_losses for outputs"
        )
    if labels.shape != logits.shape:
        raise ValueError(f"labels shape {tuple(labels.shape)} differs from logits shape {tuple(logits.shape)}")
    labels = labels.to(device=logits.device, dtype=logits.dtype)
    labelled = ~torch.isnan(labels)
    if not bool(((labels == 0) | (labels == 1) | ~labelled).all()):
        raise ValueError("labels must be 0, 1 or NaN (missing)")
    targets = torch.where(labelled, labels, torch.zeros_like(labels))
    weights = labelled.to(logits.dtype)
    if pos_weight is not None:
        pos_weight = _check_pos_weight(pos_weight, logits)
        weights = weights * torch.where(targets == 1, pos_weight, torch.ones_like(pos_weight))
    losses = (weights * F.binary_cross_entropy_with_logits(logits, targets, reduction="none")).sum(0)
    if reduction == "batch":
        return losses / logits.shape[0]
    total = weights.sum(0)
    return losses / torch.where(total > 0, total, torch.ones_like(total))


def regression_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of every task, [T], from outputs and targets [B, T] or [B, T, out].

    ``L_t = mean over samples b and outputs k of (o_btk - y_btk)^2``: ``nn.MSELoss`` on each
    task's slice, the training loss of SLAW's MTRegression code. (Its normalised loss, a
    metric, sums over outputs instead: :func:`mtlperf.metrics.normalized_loss`.)
    """
    if outputs.dim() not in (2, 3) or targets.shape != outputs.shape:
        raise ValueError(
            f"outputs and targets must share a shape [B, T] or [B, T, out]; got {tuple(outputs.shape)} "
            f"and {tuple(targets.shape)}"
        )
    squared = (outputs - targets.to(device=outputs.device, dtype=outputs.dtype)) ** 2
    return squared.mean(dim=[0, *range(2, outputs.dim())])


def class_weights(labels, *, pooled: bool = False) -> torch.Tensor:
    """``pos_weight`` [T] from training labels [N, T] (NaN = missing): negatives / positives.

    SLAW scales the loss of each class inversely to its count: class weights
    ``(w_neg, w_pos) = (n_pos, n_neg) / n``, with the counts pooled over all tasks in its code
    (``pooled=True``), e.g. ``[0.0137, 0.9863]``. Only the ratio matters under the "labelled"
    reduction, so ``pos_weight = w_pos / w_neg`` (0.9863 / 0.0137 = 72.0 there) reproduces
    that loss exactly. A task (or pool) lacking either class gets 1.
    """
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels, dtype=float)
    if labels.ndim != 2:
        raise ValueError(f"labels must be [molecules, tasks], got shape {labels.shape}")
    positives, negatives = (labels == 1).sum(0), (labels == 0).sum(0)
    if pooled:
        positives = np.full_like(positives, positives.sum())
        negatives = np.full_like(negatives, negatives.sum())
    both = (positives > 0) & (negatives > 0)
    ratio = np.where(both, negatives / np.maximum(positives, 1), 1.0)
    return torch.as_tensor(ratio, dtype=torch.float32)


def _check_pos_weight(pos_weight, logits: torch.Tensor) -> torch.Tensor:
    pos_weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    if pos_weight.shape != (logits.shape[1],):
        raise ValueError(
            f"pos_weight must have shape [{logits.shape[1]}] (one per task), got {tuple(pos_weight.shape)}"
        )
    if not bool((torch.isfinite(pos_weight) & (pos_weight > 0)).all()):
        raise ValueError("pos_weight must be finite and positive")
    return pos_weight
