"""Properties every registered weighting method keeps; a new method gets them by being registered.

Each check runs a few real training steps of a small network through the model-parts contract:
finite weights and gradients with a task absent from the batch, the same seed giving the same
numbers, ``spec()`` recreating the method, loop == batched, the fast paths changing nothing,
and ``.grad`` filled on every parameter the losses touch.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlperf.losses import task_losses
from mtlperf.methods import create_method, list_methods, method_class, parse_spec
from mtlperf.models import ModelParts, build_model

N_TASKS, N_INPUTS, BATCH, STEPS = 4, 8, 12, 6
ABSENT_TASK = 2
REQUIRED = {"ideal-constant": {"weights": [0.5, 1.0, 1.5, 1.0]}}  # hyperparameters without a default
# a solver's answer moves with float32-close Gramians: CAGrad's SLSQP (ftol 1e-10) put loop and batched 5.5e-6 apart
SOLVER_TOLERANCE = {"cagrad": {"rtol": 1e-4, "atol": 1e-6}}
SEMANTIC_PARTS = {"last_shared", "heads"}  # parts that choose WHICH gradients a method reads, not how fast


def run_steps(name: str, *, seed: int = 0, parts=lambda parts, model: parts, **hyperparameters):
    """Train ``STEPS`` SGD steps; per step: the weights applied, the network's and the method's grads."""
    torch.manual_seed(seed)
    model = build_model("pyramidal", N_INPUTS, N_TASKS, hidden=(16, 8)).double()
    method = create_method(name, N_TASKS, **{**REQUIRED.get(name, {}), **hyperparameters})
    data = torch.Generator().manual_seed(seed)
    history = []
    for step in range(STEPS):
        if step % 2 == 0:
            method.start_epoch()
        x = torch.randn(BATCH, N_INPUTS, generator=data, dtype=torch.float64)
        labels = torch.randint(0, 2, (BATCH, N_TASKS), generator=data).double()
        labels[:, ABSENT_TASK] = float("nan")
        labels[torch.rand(BATCH, N_TASKS, generator=data) < 0.2] = float("nan")
        for tensor in [*model.parameters(), *method.parameters()]:
            tensor.grad = None
        logits, model_parts = model.forward_with_parts(x)
        weights = method.backward(task_losses(logits, labels), parts(model_parts, model))
        history.append(
            {
                "weights": None if weights is None else weights.clone(),
                "network": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
                "method": [None if p.grad is None else p.grad.clone() for p in method.parameters()],
            }
        )
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
    return history


def assert_same_steps(actual: list[dict], expected: list[dict], **tolerance) -> None:
    for step, (a, e) in enumerate(zip(actual, expected, strict=True)):
        for key in ("weights", "network", "method"):
            torch.testing.assert_close(a[key], e[key], msg=lambda m, k=key, s=step: f"step {s}, {k}: {m}", **tolerance)


def one_changed_value(value):
    """A valid-looking non-default value of a hyperparameter (None for kinds it cannot guess)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    return None


def changed_hyperparameters(name: str) -> list[dict]:
    changed = [{key: one_changed_value(value)} for key, value in method_class(name).defaults.items()]
    return [change for change in changed if None not in change.values()]


def with_implementation() -> list[str]:
    return [name for name in list_methods() if "implementation" in method_class(name).defaults]


@pytest.mark.parametrize("name", list_methods())
def test_weights_and_gradients_stay_finite_when_a_task_is_absent(name):
    for step in run_steps(name):
        assert step["weights"] is None or bool(torch.isfinite(step["weights"]).all())
        assert all(bool(torch.isfinite(g).all()) for g in step["network"] + step["method"])


@pytest.mark.parametrize("name", list_methods())
def test_the_same_seed_gives_the_same_numbers(name):
    assert_same_steps(run_steps(name, seed=3), run_steps(name, seed=3), rtol=0, atol=0)


@pytest.mark.parametrize("name", list_methods())
def test_spec_recreates_the_method(name):
    for change in [{}, *changed_hyperparameters(name)]:
        method = create_method(name, N_TASKS, **{**REQUIRED.get(name, {}), **change})
        again_name, again_hyperparameters = parse_spec(method.spec())
        again = create_method(again_name, N_TASKS, **again_hyperparameters)
        assert again_name == name and again.hparams == method.hparams and again.spec() == method.spec()


@pytest.mark.parametrize("name", with_implementation())
def test_loop_and_chunked_implementations_match_the_batched_one(name):
    batched, tolerance = run_steps(name, implementation="batched"), SOLVER_TOLERANCE.get(name, {})
    assert_same_steps(run_steps(name, implementation="loop"), batched, **tolerance)
    assert_same_steps(run_steps(name, implementation="batched", chunk_size=1), batched, **tolerance)


@pytest.mark.parametrize("name", list_methods())
def test_the_fast_paths_change_no_number(name):
    full, tolerance = run_steps(name), SOLVER_TOLERANCE.get(name, {})
    without_layers = run_steps(name, parts=lambda parts, model: dataclasses.replace(parts, linear_layers=None))
    assert_same_steps(without_layers, full, **tolerance)
    if not SEMANTIC_PARTS & set(method_class(name).uses):
        assert_same_steps(run_steps(name, parts=lambda parts, model: model.shared_parameters()), full, **tolerance)


@pytest.mark.parametrize("name", list_methods())
def test_every_parameter_the_losses_touch_gets_a_gradient(name):
    for step in run_steps(name):
        assert all(g is not None for g in step["network"])
        assert all(g is not None for g in step["method"])
        assert all(bool(g.abs().sum() > 0) for g in step["network"])  # every tensor serves a task present


def test_a_method_asking_for_an_unknown_part_is_refused_at_definition():
    from mtlperf.methods.base import WeightingMethod

    with pytest.raises(TypeError, match="unknown model parts"):
        type("Misspelt", (WeightingMethod,), {"name": "misspelt", "uses": ("last_shared_io",)})


def test_heads_must_be_the_parameter_itself_not_a_view():
    head = torch.nn.Parameter(torch.ones(3, 2))
    with pytest.raises(ValueError, match="not a view"):
        ModelParts(shared=(head,), heads=head[:, :1])
