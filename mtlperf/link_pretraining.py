"""Pre-training SGNN's task embeddings by link prediction on the task graph (the authors' code's option).

As ``main_SGNN_EBM.py`` (``train_PPI``) does before the structured model trains: the task
embedding module (embedding table and GCN) and a pair scorer ``s(z_i ⊕ z_j)`` — an MLP with hidden
widths (1024, 512), batch norm, ReLU and dropout 0.1 — minimise

    BCE(s(z_i ⊕ z_j), 1) over the edges <i, j>  +  BCE(s(z_i ⊕ z_k), 0) over ``negatives`` k per edge,

with k drawn with probability proportional to degree^0.75, by Adam at the training rate. The
scorer is dropped afterwards; only the task embeddings keep what they learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVES = 5
EXPONENT = 0.75
BATCH_SIZE = 128  # edges per step


def pair_scorer(dim: int, hidden: tuple[int, ...] = (1024, 512), dropout: float = 0.1) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width_in, width in zip((2 * dim, *hidden), hidden):
        layers += [nn.Linear(width_in, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.Linear(hidden[-1] if hidden else 2 * dim, 1))


def negative_weights(pairs: torch.Tensor, n_tasks: int, exponent: float = EXPONENT) -> torch.Tensor:
    """The sampling weight of each task as a negative end: degree ** exponent."""
    degree = torch.bincount(pairs.reshape(-1), minlength=n_tasks).double()
    return degree**exponent


def pretrain_task_embedding(
    task_embedding: nn.Module,
    pairs: torch.Tensor,
    epochs: int,
    lr: float,
    seed: int,
    negatives: int = NEGATIVES,
) -> list[float]:
    """Train ``task_embedding`` (a :class:`mtlperf.models.sgnn.TaskEmbedding`) in place; the mean loss per epoch."""
    if not pairs.numel() or epochs < 1:
        return []
    device = pairs.device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    n_tasks, dim = task_embedding.embedding.weight.shape
    scorer = pair_scorer(dim).to(device)
    optimizer = torch.optim.Adam([*task_embedding.parameters(), *scorer.parameters()], lr=lr)
    weights = negative_weights(pairs.cpu(), n_tasks)
    history = []
    for _ in range(epochs):
        total, order = 0.0, torch.randperm(len(pairs), generator=generator)
        for start in range(0, len(pairs), BATCH_SIZE):
            edges = pairs[order[start : start + BATCH_SIZE].to(device)]
            far = torch.multinomial(weights, len(edges) * negatives, replacement=True, generator=generator)
            near = edges[:, 0].repeat_interleave(negatives)
            z = task_embedding()
            logits = scorer(
                torch.cat([torch.cat([z[edges[:, 0]], z[edges[:, 1]]], 1), torch.cat([z[near], z[far.to(device)]], 1)])
            )
            labels = torch.cat([torch.ones(len(edges)), torch.zeros(len(near))]).to(device)
            loss = F.binary_cross_entropy_with_logits(logits.squeeze(1), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(edges)
        history.append(total / len(pairs))
    return history
