"""Scores of a trained model: PR AUC, ROC AUC, pooled AP, negative transfer, loss-weight error.

PR AUC is average precision exactly as ``sklearn.metrics.average_precision_score`` and ROC AUC
as ``roc_auc_score`` (same step-wise sums, ties grouped the same way), computed for all tasks
at once with one sort per task instead of a Python loop over sklearn calls.
"""

from __future__ import annotations

import warnings

import numpy as np

_CHUNK = 1 << 21  # elements ranked at once (bounds the memory of the vectorised ranking)


def per_task_scores(labels, scores) -> dict[str, np.ndarray]:
    """``pr_auc`` and ``roc_auc`` [T] on each task's labelled molecules (NaN = missing label).

    A task without both classes among its labelled molecules scores NaN.
    """
    labels, scores = _check_labels_scores(labels, scores)
    n_rows, n_tasks = labels.shape
    pr_auc, roc_auc = np.full(n_tasks, np.nan), np.full(n_tasks, np.nan)
    step = max(1, _CHUNK // max(n_rows, 1))
    for lo in range(0, n_tasks, step):
        part = slice(lo, lo + step)
        pr_auc[part], roc_auc[part] = _ranked_scores(labels[:, part].T, scores[:, part].T)
    return {"pr_auc": pr_auc, "roc_auc": roc_auc}


def pooled_average_precision(labels, scores) -> float:
    """Average precision over all labelled (molecule, task) pairs together (micro AP, SLAW)."""
    labels, scores = _check_labels_scores(labels, scores)
    labelled = ~np.isnan(labels)
    ap, _ = _ranked_scores(labels[labelled][None], scores[labelled][None])
    return float(ap[0])


def evaluate(labels, scores) -> dict:
    """Per-task ``pr_auc``, ``roc_auc``; their means over tasks with both classes
    (``mean_pr_auc``, ``mean_roc_auc``); ``pooled_pr_auc``; ``n_single_class_tasks`` (tasks
    whose labelled molecules lack a class, scored NaN)."""
    per_task = per_task_scores(labels, scores)
    return {
        **per_task,
        "mean_pr_auc": _nanmean(per_task["pr_auc"]),
        "mean_roc_auc": _nanmean(per_task["roc_auc"]),
        "pooled_pr_auc": pooled_average_precision(labels, scores),
        "n_single_class_tasks": int(np.isnan(per_task["roc_auc"]).sum()),
    }


def negative_transfer(method_scores, stl_scores) -> int:
    """How many tasks score below single-task learning (tasks where either is NaN are skipped)."""
    method_scores, stl_scores = np.asarray(method_scores, float), np.asarray(stl_scores, float)
    if method_scores.shape != stl_scores.shape or method_scores.ndim != 1:
        raise ValueError(
            f"expected two per-task vectors of one length, got shapes {method_scores.shape} and {stl_scores.shape}"
        )
    both = np.isfinite(method_scores) & np.isfinite(stl_scores)
    return int((method_scores[both] < stl_scores[both]).sum())


def loss_weight_error(weights, ideal):
    """SLAW's loss-weight error ``mean_i (T w_i / sum_j w_j - ideal_i)^2``.

    ``weights`` [T] gives a float, [S, T] (one row per step) an array [S]; ``ideal`` is [T].
    """
    weights, ideal = np.asarray(weights, float), np.asarray(ideal, float)
    if weights.ndim not in (1, 2) or ideal.ndim != 1 or weights.shape[-1] != ideal.size:
        raise ValueError(f"expected weights [T] or [S, T] and ideal [T], got {weights.shape} and {ideal.shape}")
    total = weights.sum(-1, keepdims=True)
    if np.any(total == 0):
        raise ValueError("weights must not sum to 0")
    error = ((ideal.size * weights / total - ideal) ** 2).mean(-1)
    return float(error) if error.ndim == 0 else error


def normalized_loss(outputs, targets, sigmas=None) -> float:
    """SLAW's MTRegression normalised loss ``mean_t (mean_n sum_k (o_ntk - y_ntk)^2) / sigma_t^2``.

    ``outputs``, ``targets``: [N, T, out] (or [N, T]); ``sigmas`` [T] the task scales
    (None = 1, the plain mean over tasks).
    """
    outputs, targets = _as_float_array(outputs), _as_float_array(targets)
    if outputs.shape != targets.shape or outputs.ndim not in (2, 3):
        raise ValueError(f"outputs and targets must share a shape [N, T, out]; got {outputs.shape} and {targets.shape}")
    squared = (outputs - targets) ** 2
    per_task = (squared.sum(2) if squared.ndim == 3 else squared).mean(0)
    if sigmas is not None:
        sigmas = np.asarray(sigmas, float)
        if sigmas.shape != per_task.shape or np.any(sigmas == 0):
            raise ValueError(f"sigmas must be {per_task.size} nonzero task scales, got {sigmas.tolist()}")
        per_task = per_task / sigmas**2
    return float(per_task.mean())


def _ranked_scores(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average precision and ROC AUC of each row of ``y`` [K, N] (1, 0 or NaN) ranked by ``s``.

    Each row is sorted by decreasing score; equal scores form one threshold g (a tie group).
    With ``tp_g``, ``fp_g`` the positives and negatives scored >= that threshold, ``dp_g``,
    ``dn_g`` those in the group, and P, N the totals (sklearn's step-wise sums):
    ``AP = sum_g dp_g / P * tp_g / (tp_g + fp_g)``,
    ``AUC = sum_g dn_g * (tp_g - dp_g / 2) / (P N)`` (the trapezoids of the ROC curve).
    """
    n_rows, n = y.shape
    if n == 0:
        return np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    unlabelled = np.isnan(y)
    s = np.where(unlabelled, -np.inf, s)  # unlabelled rows rank last and add nothing
    label = np.where(unlabelled, -1, y).astype(np.int8)  # a small array gathers fast
    order = (np.argsort(-s, axis=1) + n * np.arange(n_rows)[:, None]).ravel()
    s, label = s.ravel()[order], label.ravel()[order]
    group_end = np.ones(s.size, dtype=bool)
    group_end[:-1] = s[1:] != s[:-1]
    group_end[n - 1 :: n] = True  # a row's end closes its last group
    pos, neg = label == 1, label == 0
    tp, fp = np.cumsum(pos)[group_end], np.cumsum(neg)[group_end]  # running over all rows
    dp, dn = np.diff(tp, prepend=0), np.diff(fp, prepend=0)
    row = np.flatnonzero(group_end) // n
    n_pos, n_neg = pos.reshape(n_rows, n).sum(1), neg.reshape(n_rows, n).sum(1)
    tp = tp - (np.cumsum(n_pos) - n_pos)[row]  # counts within the row
    fp = fp - (np.cumsum(n_neg) - n_neg)[row]
    precision = tp / np.maximum(tp + fp, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.bincount(row, dp * precision, n_rows) / n_pos
        auc = np.bincount(row, dn * (tp - dp / 2), n_rows) / (n_pos * n_neg.astype(float))
    both = (n_pos > 0) & (n_neg > 0)
    return np.where(both, ap, np.nan), np.where(both, auc, np.nan)


def _check_labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = _as_float_array(labels), _as_float_array(scores)
    if labels.ndim == 1:
        labels = labels[:, None]
    if scores.ndim == 1:
        scores = scores[:, None]
    if labels.shape != scores.shape or labels.ndim != 2:
        raise ValueError(
            f"labels and scores must share a shape [molecules, tasks]; got {labels.shape} and {scores.shape}"
        )
    labelled = ~np.isnan(labels)
    if not np.all((labels == 0) | (labels == 1) | ~labelled):
        raise ValueError("labels must be 0, 1 or NaN (missing)")
    if not np.all(np.isfinite(scores[labelled])):
        raise ValueError("scores of labelled molecules must be finite")
    return labels, scores


def _as_float_array(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, on any device
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    return values if values.dtype in (np.float32, np.float64) else values.astype(np.float64)


def _nanmean(values: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN, silently
        return float(np.nanmean(values))
