"""Every registered method, fed loss vectors hypothesis draws: tiny, huge, equal, zero, one task.

The task losses are given values (``L_t = v_t (1 + s_t - s_t.detach())`` with ``s_t`` the batch mean
of head t), so hypothesis chooses each loss exactly while the gradients still flow through a real
network and its model parts. A loss of exactly 0 is a task absent from the batch.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlperf.methods import create_method, list_methods
from mtlperf.models import build_model

N_INPUTS, BATCH = 6, 5
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAGNITUDES = st.one_of(
    st.just(0.0),
    st.floats(1e-12, 1e-6),
    st.floats(1e-6, 1e3),
    st.floats(1e3, 1e12),
)


@st.composite
def loss_sequences(draw):
    """A task count and 1-4 steps of loss vectors (some steps repeat one value for every task)."""
    n_tasks = draw(st.integers(1, 5))
    vector = st.lists(MAGNITUDES, min_size=n_tasks, max_size=n_tasks)
    equal = MAGNITUDES.map(lambda value: [value] * n_tasks)
    steps = draw(st.lists(st.one_of(vector, equal), min_size=1, max_size=4))
    return n_tasks, steps


# their coefficients are signed by design: IMTL-G solves G w = λ n, Aligned-MTL applies V Λ^-½ Vᵀ
SIGNED = {"imtl-g", "aligned-mtl"}


def hyperparameters_for(name: str, n_tasks: int) -> dict:
    if name == "ideal-constant":
        return {"weights": [1.0 + t for t in range(n_tasks)]}
    if name == "slaw":
        return {"warmup": 1}  # reach the weighted regime within the drawn steps
    return {}


def run(name: str, n_tasks: int, steps: list[list[float]]):
    torch.manual_seed(0)
    model = build_model("pyramidal", N_INPUTS, n_tasks, hidden=(8, 4)).double()
    method = create_method(name, n_tasks, **hyperparameters_for(name, n_tasks))
    x = torch.randn(BATCH, N_INPUTS, dtype=torch.float64)
    for step, values in enumerate(steps):
        if step % 2 == 0:
            method.start_epoch()
        for tensor in [*model.parameters(), *method.parameters()]:
            tensor.grad = None
        logits, parts = model.forward_with_parts(x)
        scores = logits.mean(dim=0)
        losses = torch.tensor(values, dtype=torch.float64) * (1 + scores - scores.detach())
        weights = method.backward(losses, parts)
        yield values, weights, model, method, parts


@pytest.mark.parametrize("name", list_methods())
@settings(PROPERTY, max_examples=40)
@given(drawn=loss_sequences())
def test_weights_and_gradients_are_finite_for_any_losses(name, drawn):
    n_tasks, steps = drawn
    for values, weights, model, method, _parts in run(name, n_tasks, steps):
        if weights is not None:
            assert weights.shape == (n_tasks,)
            assert bool(torch.isfinite(weights).all()), f"weights {weights} for losses {values}"
            assert name in SIGNED or bool((weights >= 0).all()), f"negative weights {weights} for losses {values}"
        for tensor in [*model.parameters(), *method.parameters()]:
            assert tensor.grad is None or bool(torch.isfinite(tensor.grad).all()), f"losses {values}"


@pytest.mark.parametrize("name", list_methods())
@settings(PROPERTY)
@given(drawn=loss_sequences())
def test_an_absent_task_moves_nothing_of_its_own(name, drawn):
    n_tasks, steps = drawn
    for values, _weights, _model, _method, parts in run(name, n_tasks, steps):
        head_grad = parts.heads.grad
        for task, value in enumerate(values):
            if value == 0.0:
                assert head_grad is None or bool((head_grad[task] == 0).all()), f"task {task} of {values}"


@pytest.mark.parametrize("name", list_methods())
@settings(PROPERTY)
@given(drawn=loss_sequences())
def test_a_batch_with_every_task_absent_moves_no_shared_parameter(name, drawn):
    n_tasks, steps = drawn
    for values, _weights, model, _method, _parts in run(name, n_tasks, steps):
        trunk = [p.grad for p in model.shared_parameters() if p.grad is not None]
        moved = any(bool(g.abs().sum() > 0) for g in trunk)
        if not any(values):
            assert not moved, f"an all-absent batch moved the trunk: {values}"
