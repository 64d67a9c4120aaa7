"""Loss-only weighting methods against numbers worked out by hand.

Every step uses ``losses = L * p**2`` with ``p = 1``, so the losses are ``L`` and
the gradient the method writes on ``p`` is ``2 * w * L``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtlperf.methods import create_method, parse_spec

SQRT_HALF = math.sqrt(0.5)  # 0.70710678...


def step(method, values):
    """One backward on losses ``values``; returns (weights, grad on p) as lists."""
    p = torch.ones(len(values), dtype=torch.float64, requires_grad=True)
    weights = method.backward(torch.tensor(values, dtype=torch.float64) * p**2, [p])
    return weights.tolist(), p.grad.tolist()


def from_spec(spec, n_tasks):
    name, hyperparameters = parse_spec(spec)
    return create_method(name, n_tasks, **hyperparameters)


def close(actual, expected, tol=1e-6):
    return actual == pytest.approx(expected, abs=tol)


# --- IdealConstant ----------------------------------------------------------------


def test_ideal_constant_applies_the_given_weights():
    method = create_method("ideal-constant", n_tasks=2, weights=[6.453, 1.613])
    for _ in range(2):  # constant over steps
        weights, grad = step(method, [1.0, 2.0])
        assert close(weights, [6.453, 1.613])
        assert close(grad, [12.906, 6.452])


def test_ideal_constant_from_spec_and_with_an_absent_task():
    method = from_spec("ideal-constant:weights=0.5;2", 2)
    weights, grad = step(method, [0.0, 3.0])
    assert close(weights, [0.5, 2.0]) and close(grad, [0.0, 12.0])


@pytest.mark.parametrize(
    "weights, message",
    [
        (None, "weights is required"),
        ([1.0], "has 1 values"),
        ([1.0, -0.5], "negative"),
        ([1.0, math.nan], "non-finite"),
        ("1;2", "is a string"),
        (["a", "b"], "not numeric"),
    ],
)
def test_ideal_constant_rejects_bad_weights(weights, message):
    hp = {} if weights is None else {"weights": weights}
    with pytest.raises(ValueError, match=message) as error:
        create_method("ideal-constant", n_tasks=2, **hp)
    assert "expected a list of 2 finite numbers >= 0" in str(error.value)


# --- LBTW -------------------------------------------------------------------------


def test_lbtw_weights_are_loss_ratio_to_the_first_batch_power_alpha():
    method = create_method("lbtw", n_tasks=2)  # alpha 0.5
    assert close(step(method, [2.0, 4.0])[0], [1.0, 1.0])  # the first batch is its own baseline
    weights, grad = step(method, [1.0, 4.0])
    assert close(weights, [SQRT_HALF, 1.0])
    assert close(grad, [2 * SQRT_HALF, 8.0])


def test_lbtw_alpha_and_renormalize_options():
    method = from_spec("lbtw:alpha=0.1", 2)
    step(method, [2.0, 4.0])
    assert close(step(method, [1.0, 4.0])[0], [0.9330330, 1.0])  # 0.5 ** 0.1

    method = create_method("lbtw", n_tasks=2, renormalize=True)  # the authors' code
    step(method, [2.0, 4.0])
    weights, grad = step(method, [1.0, 4.0])
    assert close(weights, [0.8284271, 1.1715729])  # 2 * [0.7071, 1] / 1.7071
    assert close(sum(weights), 2.0)
    assert close(grad, [2 * 0.8284271, 8 * 1.1715729])


def test_lbtw_baseline_is_reset_by_start_epoch():
    kept, reset = create_method("lbtw", n_tasks=2), create_method("lbtw", n_tasks=2)
    for method in (kept, reset):
        method.start_epoch()
        step(method, [2.0, 4.0])
        step(method, [1.0, 4.0])
    reset.start_epoch()
    assert close(step(kept, [1.0, 2.0])[0], [SQRT_HALF, SQRT_HALF])  # still against [2, 4]
    assert close(step(reset, [1.0, 2.0])[0], [1.0, 1.0])  # new baseline [1, 2]
    assert close(step(reset, [0.5, 2.0])[0], [SQRT_HALF, 1.0])


def test_lbtw_absent_task_takes_its_baseline_later():
    method = create_method("lbtw", n_tasks=2)
    assert close(step(method, [0.0, 4.0])[0], [1.0, 1.0])  # task 0 has no baseline yet
    assert close(step(method, [2.0, 2.0])[0], [1.0, SQRT_HALF])  # task 0's baseline becomes 2
    assert close(step(method, [1.0, 0.0])[0], [SQRT_HALF, 0.0])  # absent now: weight 0, finite
    everything_absent = create_method("lbtw", n_tasks=2, renormalize=True)
    step(everything_absent, [1.0, 1.0])
    weights, grad = step(everything_absent, [0.0, 0.0])
    assert all(math.isfinite(w) for w in weights + grad)


def test_lbtw_training_set_baseline_is_the_full_pass_given_at_the_epoch_start():
    method = from_spec("lbtw:l0=training-set", 2)
    assert method.wants_training_losses and not create_method("lbtw", n_tasks=2).wants_training_losses
    method.start_epoch(torch.tensor([4.0, 1.0], dtype=torch.float64))
    assert close(step(method, [1.0, 1.0])[0], [0.5, 1.0])  # against the full pass, not this first batch
    assert close(step(method, [1.0, 4.0])[0], [0.5, 2.0])


def test_lbtw_refresh_sets_the_baseline_again_every_n_steps():
    method = from_spec("lbtw:refresh=2", 2)
    method.start_epoch()
    assert close(step(method, [4.0, 4.0])[0], [1.0, 1.0])  # step 0: baseline [4, 4]
    assert close(step(method, [1.0, 4.0])[0], [0.5, 1.0])
    assert close(step(method, [2.0, 1.0])[0], [1.0, 1.0])  # step 2: baseline [2, 1]
    assert close(step(method, [1.0, 4.0])[0], [SQRT_HALF, 2.0])


@pytest.mark.parametrize(
    "hp", [{"alpha": -0.1}, {"alpha": "x"}, {"renormalize": "yes"}, {"l0": "epoch"}, {"refresh": -1}]
)
def test_lbtw_rejects_bad_hyperparameters(hp):
    with pytest.raises(ValueError, match=f"lbtw: {next(iter(hp))}=.* is invalid; expected"):
        create_method("lbtw", n_tasks=2, **hp)


# --- SLAW -------------------------------------------------------------------------


def test_slaw_weights_are_inverse_running_std():
    method = create_method("slaw", n_tasks=2)
    assert close(step(method, [1.0, 2.0])[0], [1.0, 1.0])  # step 0
    # std of [1, 3] is 1, of [2, 2.5] is 0.25: w = 2 * [1, 4] / 5; the current loss counts.
    weights, grad = step(method, [3.0, 2.5])
    assert close(weights, [0.4, 1.6])
    assert close(grad, [2.4, 8.0])


def test_slaw_switches_from_arithmetic_mean_to_ema_after_warmup():
    ema = create_method("slaw", n_tasks=2, warmup=2, beta=0.5)
    arithmetic = create_method("slaw", n_tasks=2, warmup=3, beta=0.5)
    for method in (ema, arithmetic):
        step(method, [1.0, 2.0])
        step(method, [3.0, 2.5])
    # EMA: b = [2, 2.375], a = [4.5, 5.6875] -> s = [0.7071068, 0.2165064]
    assert close(step(ema, [2.0, 2.5])[0], [0.4688248, 1.5311752])
    # Arithmetic: s = std([1, 3, 2]), std([2, 2.5, 2.5]) = [0.8164966, 0.2357023]
    assert close(step(arithmetic, [2.0, 2.5])[0], [0.4480185, 1.5519815])


def test_slaw_default_warmup_is_100_arithmetic_steps_then_beta_099():
    rng = np.random.default_rng(0)
    history = rng.uniform(0.5, 2.0, size=(101, 3)) * [1.0, 3.0, 10.0]
    method = create_method("slaw", n_tasks=3)
    for values in history[:100]:
        weights, _ = step(method, values.tolist())
    inverse = 1 / history[:100].std(axis=0)  # population std over exactly 100 losses
    assert close(weights, 3 * inverse / inverse.sum())
    mean = 0.99 * history[:100].mean(axis=0) + 0.01 * history[100]
    square = 0.99 * (history[:100] ** 2).mean(axis=0) + 0.01 * history[100] ** 2
    inverse = 1 / np.sqrt(square - mean**2)
    assert close(step(method, history[100].tolist())[0], 3 * inverse / inverse.sum())


def test_slaw_absent_task_keeps_its_statistics():
    method = create_method("slaw", n_tasks=2)
    step(method, [1.0, 2.0])
    assert close(step(method, [0.0, 2.5])[0], [1.0, 1.0])  # task 0 has one loss: weight 1
    assert close(step(method, [3.0, 0.0])[0], [0.4, 1.6])  # stds of [1, 3] and [2, 2.5]
    # s = std([1, 3, 4]) = 1.2472191, std([2, 2.5, 3]) = 0.4082483
    assert close(step(method, [4.0, 3.0])[0], [0.4932121, 1.5067879])


def test_slaw_task_seen_once_gets_weight_one_and_others_share_the_rest():
    method = create_method("slaw", n_tasks=3)
    step(method, [1.0, 2.0, 0.0])
    step(method, [3.0, 2.5, 0.0])
    weights, _ = step(method, [2.0, 2.0, 7.0])
    assert weights[2] == 1.0 and close(weights[0] + weights[1], 2.0)


def test_slaw_constant_losses_hit_the_eps_floor_not_infinity():
    method = create_method("slaw", n_tasks=2)
    for _ in range(3):
        weights, _ = step(method, [1.0, 1.0])
    assert weights == [1.0, 1.0]


@pytest.mark.parametrize("hp", [{"beta": 1.0}, {"warmup": 0}, {"warmup": 2.5}, {"eps": 0.0}])
def test_slaw_rejects_bad_hyperparameters(hp):
    with pytest.raises(ValueError, match=f"slaw: {next(iter(hp))}=.* is invalid; expected"):
        create_method("slaw", n_tasks=2, **hp)


# --- DWA --------------------------------------------------------------------------


def run_epochs(method, epochs):
    """Each epoch is a list of batches; returns the weights of every step."""
    out = []
    for batches in epochs:
        method.start_epoch()
        out.append([step(method, values)[0] for values in batches])
    return out


def test_dwa_epoch_mode_uses_the_last_two_epoch_means():
    method = create_method("dwa", n_tasks=2)  # temperature 2
    weights = run_epochs(method, [[[1.0, 2.0], [3.0, 2.0]], [[1.0, 3.0], [1.0, 1.0]], [[1.0, 1.0], [5.0, 5.0]]])
    assert all(close(w, [1.0, 1.0]) for epoch in weights[:2] for w in epoch)  # first two epochs
    # means [2, 2] then [1, 2]: r = [0.5, 1]; w = 2 * softmax([0.25, 0.5])
    assert all(close(w, [0.8756470, 1.1243530]) for w in weights[2])  # constant within the epoch
    method.start_epoch()  # epoch 3: means [1, 2] then [3, 3]: r = [3, 1.5]
    weights, grad = step(method, [1.0, 2.0])
    assert close(weights, [1.3583574, 0.6416426])  # 2 * softmax([1.5, 0.75])
    assert close(grad, [2 * 1.3583574, 4 * 0.6416426])


def test_dwa_step_mode_is_the_slaw_code_ema():
    method = from_spec("dwa:mode=step", 2)  # ema 0.9
    assert close(step(method, [1.0, 2.0])[0], [1.0, 1.0])  # average [1, 2], r = 1
    assert close(step(method, [2.0, 2.0])[0], [1.0, 1.0])  # applied now: from step 0
    # average [1.1, 2.0] over [1, 2]: r = [1.1, 1]; w = 2 * softmax([0.55, 0.5])
    weights, grad = step(method, [1.0, 1.0])
    assert close(weights, [1.0249948, 0.9750052])
    assert close(grad, [2 * 1.0249948, 2 * 0.9750052])


def test_dwa_epoch_mean_leaves_out_absent_batches():
    method = create_method("dwa", n_tasks=2)
    # task 1's epoch-0 mean is 4: its 0 is absence, not a loss of 0.
    weights = run_epochs(method, [[[2.0, 4.0], [2.0, 0.0]], [[1.0, 4.0], [1.0, 4.0]], [[1.0, 1.0]]])
    assert close(weights[2][0], [0.8756470, 1.1243530])  # r = [1 / 2, 4 / 4]
    # task 0 is absent all of epoch 3: its ratio into epoch 4 is 1; task 1's is 2 / 1.
    weights = run_epochs(method, [[[0.0, 2.0]], [[1.0, 1.0]]])
    assert close(weights[0][0], [1.1853332, 0.8146668])  # r = [1 / 1, 1 / 4]
    assert close(weights[1][0], [0.7550813, 1.2449187])  # 2 * softmax([1, 2] / 2)


def test_dwa_absent_tasks_keep_weights_finite_in_step_mode():
    method = create_method("dwa", n_tasks=2, mode="step")
    step(method, [0.0, 2.0])
    step(method, [1.0, 2.0])  # task 0's average starts here: r = 1
    assert close(step(method, [0.0, 2.0])[0], [1.0, 1.0])
    assert close(step(method, [2.0, 2.0])[0], [1.0, 1.0])  # task 0 absent last step: r = 1


def test_dwa_ratio_mode_is_softmax_of_loss_over_training_set_loss():
    method = from_spec("dwa:mode=ratio", 2)
    assert method.wants_training_losses
    method.start_epoch(torch.tensor([2.0, 1.0], dtype=torch.float64))
    expected = 2 * torch.softmax(torch.tensor([1.0 / 2.0, 3.0 / 1.0]) / 2.0, dim=0)
    weights, grad = step(method, [1.0, 3.0])
    assert close(weights, expected.tolist()) and close(grad, [2 * weights[0] * 1.0, 2 * weights[1] * 3.0])


@pytest.mark.parametrize("hp", [{"mode": "batch"}, {"temperature": 0.0}, {"ema": 1.0}])
def test_dwa_rejects_bad_hyperparameters(hp):
    with pytest.raises(ValueError, match=f"dwa: {next(iter(hp))}=.* is invalid; expected"):
        create_method("dwa", n_tasks=2, **hp)


# --- Uncertainty ------------------------------------------------------------------


def test_uncertainty_loss_and_gradients_of_network_and_log_variance():
    method = create_method("uncertainty", n_tasks=2)  # s = 0: weights 0.5
    (s,) = method.parameters()
    weights, grad = step(method, [1.0, 4.0])
    assert close(weights, [0.5, 0.5])
    assert close(grad, [1.0, 4.0])  # 2 * 0.5 * L
    assert close(s.grad.tolist(), [0.0, -1.5])  # d/ds = 0.5 - 0.5 exp(-s) L


def test_uncertainty_slaw_code_init_starts_weights_at_one():
    method = from_spec("uncertainty:init=-0.6931471805599453", 2)
    (s,) = method.parameters()
    weights, grad = step(method, [1.0, 4.0])
    assert close(weights, [1.0, 1.0]) and close(grad, [2.0, 8.0])
    assert close(s.grad.tolist(), [-0.5, -3.5])


def test_uncertainty_log_variance_learns_with_an_optimizer():
    method = create_method("uncertainty", n_tasks=2)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    step(method, [1.0, 4.0])
    optimizer.step()  # s = [0, 0.15]
    optimizer.zero_grad()
    assert close(step(method, [1.0, 4.0])[0], [0.5, 0.4303540])  # 0.5 exp(-0.15)


def test_uncertainty_absent_task_gets_no_gradient_on_its_log_variance():
    method = create_method("uncertainty", n_tasks=2)
    (s,) = method.parameters()
    weights, grad = step(method, [0.0, 4.0])
    assert close(s.grad.tolist(), [0.0, -1.5]) and close(grad, [0.0, 4.0])
    assert all(math.isfinite(w) for w in weights)


def test_uncertainty_to_moves_in_place_so_an_earlier_optimizer_still_holds_it():
    method = create_method("uncertainty", n_tasks=2)
    (s,) = method.parameters()
    optimizer = torch.optim.Adam(method.parameters())
    assert method.to("cpu") is method and method.parameters()[0] is s
    assert optimizer.param_groups[0]["params"][0] is s
    assert s.device.type == "cpu" and s.requires_grad


def test_uncertainty_rejects_a_non_finite_init():
    with pytest.raises(ValueError, match="uncertainty: init=nan is invalid; expected a finite number"):
        create_method("uncertainty", n_tasks=2, init=math.nan)


# --- Every loss-only method -------------------------------------------------------

SPECS = [
    "ideal-constant:weights=1;2;0.5",
    "lbtw",
    "lbtw:renormalize=true",
    "slaw",
    "slaw:warmup=3",
    "dwa",
    "dwa:mode=step",
    "uncertainty",
]


def random_run(spec, seed=0, steps=24):
    """Weights and grads over a few epochs of random losses with absent (0) tasks."""
    generator = torch.Generator().manual_seed(seed)
    method = from_spec(spec, 3)
    p = torch.ones(3, requires_grad=True)
    optimizer = torch.optim.SGD([p, *method.parameters()], lr=0.01)
    record = []
    for index in range(steps):
        if index % 4 == 0:
            method.start_epoch()
        values = torch.rand(3, generator=generator) * 3
        values[torch.rand(3, generator=generator) < 0.3] = 0  # no labelled molecule in the batch
        optimizer.zero_grad()
        weights = method.backward(values * p**2, [p])
        record.append((weights.clone(), p.grad.clone()))
        optimizer.step()
    return record


@pytest.mark.parametrize("spec", SPECS)
def test_absent_tasks_keep_weights_and_grads_finite(spec):
    for weights, grad in random_run(spec):
        assert weights.shape == (3,)
        assert torch.isfinite(weights).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("spec", SPECS)
def test_same_seed_gives_the_same_numbers(spec):
    first, second = random_run(spec, seed=3), random_run(spec, seed=3)
    assert all(torch.equal(a, b) for (wa, ga), (wb, gb) in zip(first, second) for a, b in ((wa, wb), (ga, gb)))
