"""The energy of SGNN-EBM (Eq. 9 / 11) and the conditionals of its tilted distribution (Eq. 14).

``-E(x, y) = sum_i f_i(x, y_i) + λ sum_<i,j> f_ij(x, y_i, y_j)``, the factors log-softmaxed over
each task's 2 and each edge's 4 states. The tilted model is ``p~(y | x) ∝ q(y | x) exp(-E(x, y))``
with ``q = prod_i q_i`` the backbone (noise) model, given by its logits ``log q_i(1) - log q_i(0)``.
"""

from __future__ import annotations

import itertools

import torch

LAMBDA = 0.1  # the paper's λ (Table 5: 0.1 or 1), the authors' default


def log_potential(
    node_scores: torch.Tensor,
    edge_scores: torch.Tensor,
    pairs: torch.Tensor,
    labels: torch.Tensor,
    lam: float = LAMBDA,
) -> torch.Tensor:
    """``-E(x, y)`` [B] for labels [B, T] of 0 and 1 (every label given: impute missing ones first)."""
    labels = labels.long()
    first = node_scores.gather(2, labels.unsqueeze(2)).squeeze(2).sum(1)
    if pairs.numel() == 0:
        return first
    states = 2 * labels[:, pairs[:, 0]] + labels[:, pairs[:, 1]]
    return first + lam * _edge_score(edge_scores, states).sum(1)


def conditional_logits(
    node_scores: torch.Tensor,
    edge_scores: torch.Tensor,
    pairs: torch.Tensor,
    labels: torch.Tensor,
    prior_logits: torch.Tensor,
    lam: float = LAMBDA,
) -> torch.Tensor:
    """[B, T]: ``log p~(y_i = 1 | y_-i) - log p~(y_i = 0 | y_-i)`` for every task, the others at ``labels``.

    ``= prior_i + f_i(1) - f_i(0) + λ sum over task i's edges of f_ij(1, y_j) - f_ij(0, y_j)``
    (all tasks at once; only tasks not adjacent to each other may be resampled together).
    """
    logits = prior_logits + node_scores[..., 1] - node_scores[..., 0]
    if pairs.numel() == 0:
        return logits
    labels = labels.long()
    first, second = pairs[:, 0], pairs[:, 1]
    y_first, y_second = labels[:, first], labels[:, second]
    # edge state 2 y_i + y_j: for i (first end) states 2 + y_j vs y_j; for j (second end) 2 y_i + 1 vs 2 y_i
    to_first = _edge_score(edge_scores, 2 + y_second) - _edge_score(edge_scores, y_second)
    to_second = _edge_score(edge_scores, 2 * y_first + 1) - _edge_score(edge_scores, 2 * y_first)
    edge_terms = torch.zeros_like(logits).index_add(1, first, to_first).index_add(1, second, to_second)
    return logits + lam * edge_terms


def exact_marginals(
    node_scores: torch.Tensor,
    edge_scores: torch.Tensor,
    pairs: torch.Tensor,
    prior_logits: torch.Tensor,
    lam: float = LAMBDA,
) -> torch.Tensor:
    """``p~(y_i = 1 | x)`` [B, T] by enumerating all 2^T label vectors (T <= 16: a reference for tests)."""
    b, t = prior_logits.shape
    if t > 16:
        raise ValueError(f"exact_marginals enumerates 2^T label vectors; T = {t} is too many (at most 16)")
    every = torch.tensor(list(itertools.product((0, 1), repeat=t)), device=prior_logits.device)  # [2^T, T]
    log_q = torch.nn.functional.logsigmoid(
        torch.where(every[None].bool(), prior_logits[:, None], -prior_logits[:, None])
    )
    scores = torch.stack([log_potential(node_scores, edge_scores, pairs, y.expand(b, t), lam) for y in every], dim=1)
    weights = (log_q.sum(2) + scores).softmax(dim=1)  # [B, 2^T]
    return weights @ every.to(weights.dtype)


def _edge_score(edge_scores: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """[B, M]: each edge's score at its state (``states`` [B, M] in 0..3)."""
    return edge_scores.gather(2, states.unsqueeze(2)).squeeze(2)
