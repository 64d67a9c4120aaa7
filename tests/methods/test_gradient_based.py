"""GradNorm, PCGrad and RMTL: hand-computed steps, brute-force PCGrad, and loop == batched."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from mtlperf.gradients import linear_layers as linear_gramian
from mtlperf.gradients.jacobian import task_gramian, task_jacobian
from mtlperf.gradients.linear_layers import cotangents_are_smaller, covers
from mtlperf.losses import task_losses
from mtlperf.methods import create_method, parse_spec
from mtlperf.methods.pcgrad import projection_order
from mtlperf.models import ModelParts, build_model
from mtlperf.sparse import SparseBits

GRADIENT_METHODS = ("gradnorm", "pcgrad", "rmtl")


def linear_losses(theta, rows, scale=None):
    """``L_t = scale_t · (A θ)_t``: task t's gradient on θ is ``scale_t · A[t]``."""
    losses = torch.as_tensor(rows, dtype=torch.float32) @ theta
    return losses if scale is None else torch.as_tensor(scale, dtype=torch.float32) * losses


# ---------------------------------------------------------------- GradNorm


def test_gradnorm_two_steps_by_hand():
    # g_1 = (3, 4), g_2 = (1, 0): norms 5 and 1; L = (7, 1) is also L0, so r = (1, 1).
    # G = (5, 1), target = mean(G) = 3, dL_grad/dw = sign(G - target) * norm = (5, -1);
    # Adam's first step moves each weight by lr against the sign: w = (0.975, 1.025), sum 2.
    theta = torch.ones(2, requires_grad=True)
    method = create_method("gradnorm", 2)
    applied = method.backward(linear_losses(theta, [[3, 4], [1, 0]]), [theta])
    assert applied.tolist() == [1.0, 1.0]  # the network update uses this step's weights
    assert theta.grad.tolist() == [4.0, 4.0]
    torch.testing.assert_close(method.weights.detach(), torch.tensor([0.975, 1.025]))

    # Task 1's loss halves: L = (3.5, 1), ratios (0.5, 1) / 0.75 = (2/3, 4/3); g_1 = (1.5, 2), norm 2.5.
    # G = (0.975 * 2.5, 1.025) = (2.4375, 1.025), mean 1.73125; targets 1.73125 * (2/3, 4/3)^0.12
    # = (1.6490, 1.7921), so dL_grad/dw = (2.5, -1). Adam: m = (0.7, -0.19), v = (0.031225, 0.001999),
    # bias-corrected step 0.025 * (3.68421 / 3.95225, -1) = (0.0233045, -0.025):
    # w = (0.9516955, 1.05), renormalised to sum 2: (0.950889, 1.049111).
    theta.grad = None
    applied = method.backward(linear_losses(theta, [[3, 4], [1, 0]], scale=[0.5, 1.0]), [theta])
    torch.testing.assert_close(applied, torch.tensor([0.975, 1.025]))
    torch.testing.assert_close(theta.grad, torch.tensor([0.975 * 1.5 + 1.025, 0.975 * 2.0]))
    torch.testing.assert_close(method.weights.detach(), torch.tensor([0.950889, 1.049111]), atol=1e-6, rtol=0)


def test_gradnorm_update_first_applies_the_new_weights():
    theta = torch.ones(2, requires_grad=True)
    method = create_method("gradnorm", 2, update_first=True)
    applied = method.backward(linear_losses(theta, [[3, 4], [1, 0]]), [theta])
    torch.testing.assert_close(applied, torch.tensor([0.975, 1.025]))
    torch.testing.assert_close(theta.grad, torch.tensor([0.975 * 3 + 1.025, 0.975 * 4]))


def test_gradnorm_weights_sum_to_t_and_equalise_gradient_norms():
    theta = torch.ones(3, requires_grad=True)
    rows = [[4.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.25]]  # gradient norms 4, 1, 0.25
    method = create_method("gradnorm", 3, alpha=0.0, lr=0.05)
    norms = torch.tensor([4.0, 1.0, 0.25])
    spread = []
    for _ in range(60):
        method.backward(linear_losses(theta, rows), [theta])
        weights = method.weights.detach()
        assert math.isclose(float(weights.sum()), 3.0, rel_tol=1e-6)
        weighted = weights * norms
        spread.append(float(weighted.std() / weighted.mean()))
    assert spread[-1] < 0.3 * spread[0]
    assert method.weights[0] < method.weights[1] < method.weights[2]


def test_gradnorm_absent_task_keeps_weights_finite_and_neutral():
    theta = torch.ones(2, requires_grad=True)
    method = create_method("gradnorm", 3)
    rows = [[1.0, 2.0], [2.0, 1.0], [0.0, 0.0]]  # task 3 has no labelled molecule: loss exactly 0
    for scale in ([1.0, 1.0, 1.0], [0.5, 2.0, 1.0]):
        theta.grad = None
        applied = method.backward(linear_losses(theta, rows, scale), [theta])
        assert torch.isfinite(applied).all() and torch.isfinite(method.weights).all()
        assert torch.isfinite(theta.grad).all()
    assert method.initial_losses[2] == 0  # no baseline until the task shows up
    # once present, its first loss becomes its baseline
    method.backward(torch.tensor([1.0, 1.0, 4.0]) * theta.mean(), [theta])  # theta = (1, 1)
    assert method.initial_losses[2] == pytest.approx(4.0)


def test_gradnorm_on_the_heads_by_hand():
    # Head gradients x_t = (3, 4), (1, 0): norms 5 and 1, as the shared rows of the two-step test,
    # so the first update is the same: w = (0.975, 1.025). The shared layer (theta) plays no part.
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    for implementation in ("batched", "loop"):
        theta = torch.ones(2, requires_grad=True)
        heads = torch.ones(2, 1, 2, requires_grad=True)  # like TaskHeads: [T, out, d]
        losses = (heads[:, 0] * x).sum(1) + torch.tensor([[9.0, 0.0], [0.0, 9.0]]) @ theta - 9.0
        name, hyperparameters = parse_spec(f"gradnorm:layer=heads,implementation={implementation}")
        method = create_method(name, 2, **hyperparameters)
        applied = method.backward(losses, ModelParts(shared=[theta], last_shared=[theta], heads=heads))
        assert applied.tolist() == [1.0, 1.0]
        torch.testing.assert_close(method.weights.detach(), torch.tensor([0.975, 1.025]))
        torch.testing.assert_close(heads.grad[:, 0], x)


def test_gradnorm_head_norms_equal_a_per_task_loop_of_autograd_grad():
    torch.manual_seed(0)
    model = build_model("pyramidal", 64, 5, hidden=(32, 8))
    batch, labels = small_batch(5, 24, absent=3)
    logits, parts = model.forward_with_parts(batch)
    losses = task_losses(logits, labels)
    expected = torch.stack(
        [torch.autograd.grad(losses[t], parts.heads, retain_graph=True)[0][t].norm() for t in range(5)]
    )
    norms = create_method("gradnorm", 5, layer="heads")._gradient_norms(losses, parts)
    torch.testing.assert_close(norms, expected)
    assert norms[3] == 0  # the absent task


def test_gradnorm_on_the_heads_without_heads_is_a_value_error():
    theta = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="layer=heads"):
        create_method("gradnorm", 2, layer="heads").backward(linear_losses(theta, [[3, 4], [1, 0]]), [theta])
    with pytest.raises(ValueError, match="layer='shared'"):
        create_method("gradnorm", 2, layer="shared")


# ---------------------------------------------------------------- PCGrad


def test_pcgrad_two_tasks_by_hand():
    # g_1 = (1, 0), g_2 = (-1, 1) conflict (dot -1):
    # g_1' = g_1 + g_2 / 2 = (0.5, 0.5), g_2' = g_2 + g_1 = (0, 1); shared gradient (0.5, 1.5).
    # Heads h (3 h_1 in L_1, 5 h_2 in L_2) keep their own, unweighted gradients (3, 5).
    for implementation in ("batched", "loop"):
        theta = torch.zeros(2, requires_grad=True)
        heads = torch.zeros(2, requires_grad=True)
        losses = linear_losses(theta, [[1, 0], [-1, 1]]) + torch.tensor([3.0, 5.0]) * heads
        assert create_method("pcgrad", 2, implementation=implementation).backward(losses, [theta]) is None
        torch.testing.assert_close(theta.grad, torch.tensor([0.5, 1.5]))
        torch.testing.assert_close(heads.grad, torch.tensor([3.0, 5.0]))


def brute_force_pcgrad(grads: torch.Tensor, seed: int) -> torch.Tensor:
    order = projection_order(len(grads), torch.Generator().manual_seed(seed))
    total = torch.zeros_like(grads[0], dtype=torch.float64)
    for i in range(len(grads)):
        g_i = grads[i].double().clone()
        for j in order[i].tolist():
            g_j = grads[j].double()
            if g_j.norm() > 0 and torch.dot(g_i, g_j) < 0:
                g_i = g_i - torch.dot(g_i, g_j) / torch.dot(g_j, g_j) * g_j
        total += g_i
    return total.float()


@pytest.mark.parametrize("implementation", ["batched", "loop"])
def test_pcgrad_matches_brute_force_projection(implementation):
    grads = torch.randn(6, 9, generator=torch.Generator().manual_seed(3))
    grads[4] = 0.0  # an absent task: no projection onto the zero vector, no NaN
    theta = torch.zeros(9, requires_grad=True)
    method = create_method("pcgrad", 6, seed=7, implementation=implementation, chunk_size=4)
    method.backward(linear_losses(theta, grads), [theta])
    assert torch.isfinite(theta.grad).all()
    torch.testing.assert_close(theta.grad, brute_force_pcgrad(grads, seed=7), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(theta.grad, grads.sum(0))  # there were conflicts to remove


def test_projection_order_is_a_seeded_permutation_of_the_others():
    order = projection_order(5, torch.Generator().manual_seed(0))
    assert order.shape == (5, 4)
    for i, row in enumerate(order.tolist()):
        assert sorted(row) == [j for j in range(5) if j != i]
    again = projection_order(5, torch.Generator().manual_seed(0))
    assert torch.equal(order, again)


# ---------------------------------------------------------------- RMTL


def test_rmtl_weights_by_hand_with_heads():
    # head gradients x_t: (1, 0), (1, 1), (-1, 0), (0, 0) -> cos with task 0: 1, 1/sqrt 2, -1, undefined
    # -> w = (1, 0.70711, 0, 0); the shared gradient is sum_t w_t dL_t/dtheta.
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [0.0, 0.0]])
    for implementation in ("batched", "loop"):
        theta = torch.ones(2, requires_grad=True)
        head_weight = torch.ones(4, 1, 2, requires_grad=True)  # like TaskHeads: [T, out, d]
        losses = (head_weight[:, 0] * x).sum(1) + a @ theta
        method = create_method("rmtl", 4, implementation=implementation)
        weights = method.backward(losses, ModelParts(shared=[theta], heads=head_weight))
        torch.testing.assert_close(weights, torch.tensor([1.0, 2**-0.5, 0.0, 0.0]))
        torch.testing.assert_close(theta.grad, a[0] + 2**-0.5 * a[1])
        torch.testing.assert_close(head_weight.grad[:, 0], weights[:, None] * x)


def test_rmtl_without_heads_uses_shared_gradients():
    # shared gradients (3, 4), (4, 3), (0, 1), (-1, 0); emphasised task 1:
    # cos = 24/25, 1, 3/5, -4/5 -> w = (0.96, 1, 0.6, 0)
    rows = [[3.0, 4.0], [4.0, 3.0], [0.0, 1.0], [-1.0, 0.0]]
    for implementation in ("batched", "loop"):
        theta = torch.ones(2, requires_grad=True)
        method = create_method("rmtl", 4, task=1, implementation=implementation, chunk_size=3)
        weights = method.backward(linear_losses(theta, rows), [theta])
        torch.testing.assert_close(weights, torch.tensor([0.96, 1.0, 0.6, 0.0]))


# ---------------------------------------------------------------- loop == batched


def small_batch(n_tasks: int, n_rows: int, absent: int | None):
    generator = torch.Generator().manual_seed(1)
    dense = (torch.rand(n_rows, 64, generator=generator) < 0.15).float()
    labels = (torch.rand(n_rows, n_tasks, generator=generator) < 0.3).float()
    labels[torch.rand(n_rows, n_tasks, generator=generator) < 0.3] = float("nan")
    if absent is not None:
        labels[:, absent] = float("nan")  # no labelled molecule: its loss is exactly 0
    return SparseBits.from_dense(dense), labels


def run_steps(method, model, batch, labels, parts: tuple[str, ...], steps: int = 3):

    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    record = []
    for _ in range(steps):
        optimizer.zero_grad()
        logits, available = model.forward_with_parts(batch)
        losses = task_losses(logits, labels)
        given = ModelParts(shared=available.shared, **{k: getattr(available, k) for k in parts})
        weights = method.backward(losses, given)
        record.append((weights, [p.grad.clone() for p in model.parameters()]))
        optimizer.step()
    return record


@pytest.mark.parametrize(
    "name, hyperparameters, parts, n_rows",
    [
        ("gradnorm", {}, ("last_shared", "linear_layers"), 24),  # kernel path: batch < layer input
        ("gradnorm", {}, ("last_shared", "linear_layers"), 48),  # explicit layer gradients
        ("gradnorm", {"chunk_size": 2}, ("last_shared",), 24),  # generic batched VJPs
        ("gradnorm", {}, (), 24),  # W = all shared parameters
        ("pcgrad", {}, (), 24),
        ("pcgrad", {"chunk_size": 2}, (), 24),
        ("pcgrad", {}, ("linear_layers",), 24),  # Gramian from the layers' cotangents
        ("pcgrad", {"chunk_size": 2}, ("linear_layers",), 24),
        ("rmtl", {"task": 1}, ("heads",), 24),
        ("rmtl", {"task": 2, "chunk_size": 2}, (), 24),
    ],
)
@pytest.mark.parametrize("absent", [None, 3])
def test_loop_and_batched_give_the_same_update(name, hyperparameters, parts, n_rows, absent):
    torch.manual_seed(0)
    model = build_model("pyramidal", 64, 5, hidden=(32, 8))
    batch, labels = small_batch(5, n_rows, absent)
    runs = {
        implementation: run_steps(
            create_method(name, 5, implementation=implementation, **hyperparameters),
            copy.deepcopy(model),
            batch,
            labels,
            parts,
        )
        for implementation in ("batched", "loop")
    }
    for (w_batched, g_batched), (w_loop, g_loop) in zip(runs["batched"], runs["loop"]):
        if w_loop is None:
            assert w_batched is None
        else:
            assert torch.isfinite(w_batched).all()
            torch.testing.assert_close(w_batched, w_loop, rtol=1e-5, atol=1e-5)
        for batched, loop in zip(g_batched, g_loop):
            assert torch.isfinite(batched).all()
            torch.testing.assert_close(batched, loop, rtol=1e-5, atol=1e-5)


def test_same_seed_same_numbers():
    torch.manual_seed(0)
    model = build_model("pyramidal", 64, 5, hidden=(32, 8))
    batch, labels = small_batch(5, 24, None)
    first, second = (
        run_steps(create_method("pcgrad", 5, seed=4), copy.deepcopy(model), batch, labels, ()) for _ in range(2)
    )
    for (_, grads_a), (_, grads_b) in zip(first, second):
        assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_bad_implementation_is_a_value_error(name):
    with pytest.raises(ValueError, match="implementation"):
        create_method(name, 3, implementation="vmap")
    with pytest.raises(ValueError, match="chunk_size"):
        create_method(name, 3, chunk_size=-1)


def test_bad_hyperparameters_are_value_errors():
    with pytest.raises(ValueError, match="task"):
        create_method("rmtl", 3, task=3)
    with pytest.raises(ValueError, match="lr"):
        create_method("gradnorm", 3, lr=0.0)


def test_specs_parse_to_typed_hyperparameters():
    name, hyperparameters = parse_spec("gradnorm:alpha=0.5,implementation=loop,update_first=true")
    method = create_method(name, 4, **hyperparameters)
    assert method.hparams["alpha"] == 0.5 and method.hparams["update_first"] is True
    name, hyperparameters = parse_spec("rmtl:task=2,chunk_size=8")
    assert create_method(name, 4, **hyperparameters).hparams == {
        "task": 2,
        "implementation": "batched",
        "chunk_size": 8,
    }


@pytest.mark.parametrize("sparse_input", [True, False])
@pytest.mark.parametrize("chunk_size", [0, 2])
@pytest.mark.parametrize("kernel_trick", [True, False])
def test_gramian_from_layer_cotangents_equals_the_jacobian_gramian(sparse_input, chunk_size, kernel_trick, monkeypatch):
    monkeypatch.setattr(linear_gramian, "_kernel_is_cheaper", lambda *args: kernel_trick)
    monkeypatch.setattr(linear_gramian, "BLOCK_NUMBERS", 300)  # several blocks of inputs and of tasks
    torch.manual_seed(3)
    model = build_model("pyramidal", 64, 5, hidden=(32, 8))
    batch, labels = small_batch(5, 24, absent=3)
    logits, parts = model.forward_with_parts(batch if sparse_input else batch.to_dense())
    losses = task_losses(logits, labels)
    jacobian = task_jacobian(losses, model.shared_parameters(), implementation="loop")
    assert cotangents_are_smaller(parts.linear_layers, model.shared_parameters())
    gramian = task_gramian(losses, model.shared_parameters(), linear_layers=parts.linear_layers, chunk_size=chunk_size)
    torch.testing.assert_close(gramian, jacobian @ jacobian.T, rtol=1e-5, atol=1e-6)
    assert torch.all(gramian[3] == 0)  # the task without labels has no gradient


def test_gramian_falls_back_to_the_jacobian_when_layers_do_not_cover_the_parameters():
    torch.manual_seed(3)
    model = build_model("lbtw", 64, 4, hidden=(16, 8))  # batch norm: shared parameters outside Linear layers
    batch, labels = small_batch(4, 24, absent=None)
    logits, parts = model.forward_with_parts(batch)
    losses = task_losses(logits, labels)
    assert not covers(parts.linear_layers, model.shared_parameters())
    jacobian = task_jacobian(losses, model.shared_parameters(), implementation="loop")
    gramian = task_gramian(losses, model.shared_parameters(), linear_layers=parts.linear_layers)
    torch.testing.assert_close(gramian, jacobian @ jacobian.T, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch, kernel_trick", [(128, True), (1024, False)])
def test_the_kernel_trick_is_taken_for_small_batches_of_the_sparse_first_layer(batch, kernel_trick):
    # The scaling benchmark's first layer at 128 tasks: 2048 bits (about 41 set) -> 2000 units.
    bits = SparseBits(torch.zeros(batch * 41, dtype=torch.long), torch.arange(0, batch * 41, 41), 2048)
    delta = torch.empty(128, batch, 2000, device="meta")
    assert linear_gramian._kernel_is_cheaper(bits, delta) is kernel_trick
