"""Gibbs sampling of SGNN-EBM's tilted distribution (section 5.4.2, Eq. 14): the task marginals it predicts.

Each sweep resamples every task from ``p~(y_i | y_-i)`` (:func:`~mtlperf.ebm.energy.conditional_logits`).
Tasks with no edge between them are independent given the rest, so a sweep visits the classes of
a proper colouring of the task graph in random order and resamples a whole class at once: a
systematic-scan Gibbs sampler with as many steps per sweep as colours, not tasks. Chains start
from a draw of the prior ``q`` (the backbone), as the paper does.

The marginal estimate is the mean over sweeps of the conditional probabilities each task was
drawn from (``estimate="average"``, Rao-Blackwellised; it converges to the exact marginals as
sweeps grow). ``estimate="last"``: the last sweep's conditionals, the authors' code's default
(``GS_inference='last'``), which does not converge with more sweeps. The code also takes the
node and edge softmax probabilities rather than their logarithms into the conditional.
"""

from __future__ import annotations

import torch

from .energy import LAMBDA, conditional_logits

SWEEPS = 2  # the authors' GS_iteration
ESTIMATES = ("average", "last")


def colour_classes(n_tasks: int, pairs: torch.Tensor) -> list[torch.Tensor]:
    """A proper colouring of the task graph, greedy by decreasing degree: task indices per colour."""
    neighbours: list[set[int]] = [set() for _ in range(n_tasks)]
    for i, j in pairs.tolist():
        neighbours[i].add(j)
        neighbours[j].add(i)
    colour: dict[int, int] = {}
    for task in sorted(range(n_tasks), key=lambda k: (-len(neighbours[k]), k)):
        taken = {colour[n] for n in neighbours[task] if n in colour}
        colour[task] = next(c for c in range(n_tasks) if c not in taken)
    n_colours = max(colour.values(), default=-1) + 1
    return [torch.tensor([t for t in range(n_tasks) if colour[t] == c], device=pairs.device) for c in range(n_colours)]


@torch.no_grad()
def gibbs_marginals(
    node_scores: torch.Tensor,
    edge_scores: torch.Tensor,
    pairs: torch.Tensor,
    prior_logits: torch.Tensor,
    *,
    lam: float = LAMBDA,
    sweeps: int = SWEEPS,
    estimate: str = "average",
    generator: torch.Generator | None = None,
    classes: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """``p~(y_i = 1 | x)`` [B, T] estimated by ``sweeps`` Gibbs sweeps (``classes``: a colouring, else computed)."""
    if estimate not in ESTIMATES:
        raise ValueError(f"unknown estimate {estimate!r}; valid: {', '.join(ESTIMATES)}")
    if not isinstance(sweeps, int) or sweeps < 1:
        raise ValueError(f"sweeps must be an integer >= 1, got {sweeps!r}")
    b, t = prior_logits.shape
    classes = colour_classes(t, pairs) if classes is None else classes
    labels = _bernoulli(torch.sigmoid(prior_logits), generator)
    total = torch.zeros_like(prior_logits)
    for _ in range(sweeps):
        last = torch.empty_like(prior_logits)
        order = torch.randperm(len(classes), generator=generator, device=_device(generator)).tolist()
        for c in order:
            tasks = classes[c]
            probability = torch.sigmoid(
                conditional_logits(node_scores, edge_scores, pairs, labels, prior_logits, lam)[:, tasks]
            )
            labels[:, tasks] = _bernoulli(probability, generator)
            last[:, tasks] = probability
        total += last
    return total / sweeps if estimate == "average" else last


def _bernoulli(probability: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    uniform = torch.rand(probability.shape, generator=generator, device=probability.device, dtype=probability.dtype)
    return (uniform < probability).long()


def _device(generator: torch.Generator | None) -> torch.device | str:
    return "cpu" if generator is None else generator.device
