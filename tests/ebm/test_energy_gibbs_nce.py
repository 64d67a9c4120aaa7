import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from mtlperf.ebm import colour_classes, conditional_logits, exact_marginals, gibbs_marginals, log_potential, nce_loss

PAIRS = torch.tensor([[0, 1], [0, 2], [1, 2], [2, 3], [3, 4], [1, 5]])  # a triangle, a path, a leaf
T = 6


def _factors(b=3, pairs=PAIRS, seed=0, scale=1.5):
    g = torch.Generator().manual_seed(seed)
    nodes = (scale * torch.randn(b, T, 2, generator=g)).log_softmax(-1)
    edges = (scale * torch.randn(b, len(pairs), 4, generator=g)).log_softmax(-1)
    prior = torch.randn(b, T, generator=g)
    return nodes, edges, prior


def test_log_potential_is_the_first_and_second_order_sum_of_eq_9():
    nodes, edges, _ = _factors()
    y = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    got = log_potential(nodes, edges, PAIRS, y, lam=0.3)
    for b in range(3):
        by_hand = sum(nodes[b, i, y[b, i]] for i in range(T))
        by_hand += 0.3 * sum(edges[b, e, 2 * y[b, i] + y[b, j]] for e, (i, j) in enumerate(PAIRS.tolist()))
        torch.testing.assert_close(got[b], by_hand)


def test_without_edges_the_energy_is_the_first_order_factors_alone():
    nodes, _, prior = _factors()
    none = torch.zeros(0, 2, dtype=torch.long)
    edges = torch.zeros(3, 0, 4)
    y = torch.randint(0, 2, (3, T), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(log_potential(nodes, edges, none, y), nodes.gather(2, y[..., None]).sum((1, 2)))
    # and the tilted marginals factorise: sigmoid(prior + f_i(1) - f_i(0)), exactly
    expected = torch.sigmoid(prior + nodes[..., 1] - nodes[..., 0])
    torch.testing.assert_close(exact_marginals(nodes, edges, none, prior), expected)
    torch.testing.assert_close(gibbs_marginals(nodes, edges, none, prior, sweeps=3), expected)


def _tilted_log_probability(nodes, edges, prior, y, lam):
    log_q = F.logsigmoid(torch.where(y.bool(), prior, -prior)).sum(1)
    return log_q + log_potential(nodes, edges, PAIRS, y, lam)


def test_the_sampler_update_is_the_exact_conditional_of_the_tilted_distribution():
    nodes, edges, prior = _factors()
    for y in itertools.islice(itertools.product((0, 1), repeat=T), 0, 64, 7):
        y = torch.tensor(y).expand(3, T).clone()
        got = conditional_logits(nodes, edges, PAIRS, y, prior, lam=0.7)
        for i in range(T):
            one, zero = y.clone(), y.clone()
            one[:, i], zero[:, i] = 1, 0
            expected = _tilted_log_probability(nodes, edges, prior, one, 0.7) - _tilted_log_probability(
                nodes, edges, prior, zero, 0.7
            )
            torch.testing.assert_close(got[:, i], expected)


def test_exact_marginals_enumerate_the_tilted_distribution():
    nodes, edges, prior = _factors(b=1)
    every = torch.tensor(list(itertools.product((0, 1), repeat=T)))
    log_p = torch.stack([_tilted_log_probability(nodes, edges, prior, y[None], 1.0)[0] for y in every])
    expected = (log_p.softmax(0)[:, None] * every).sum(0)
    torch.testing.assert_close(exact_marginals(nodes, edges, PAIRS, prior, lam=1.0)[0], expected)


def test_the_colouring_is_proper_and_covers_every_task():
    classes = colour_classes(T, PAIRS)
    colour = {int(t): c for c, tasks in enumerate(classes) for t in tasks}
    assert sorted(colour) == list(range(T))
    assert all(colour[i] != colour[j] for i, j in PAIRS.tolist())
    assert len(classes) == 3  # the triangle needs three


def test_gibbs_marginals_converge_to_the_exact_ones_as_sweeps_grow():
    chains = 64  # independent chains per molecule, their estimates averaged
    nodes, edges, prior = (f.repeat_interleave(chains, 0) for f in _factors(b=3, scale=2.0))
    exact = exact_marginals(nodes, edges, PAIRS, prior, lam=1.0)[::chains]
    errors = []
    for sweeps in (2, 16, 128, 1024):
        g = torch.Generator().manual_seed(7)
        estimate = gibbs_marginals(nodes, edges, PAIRS, prior, lam=1.0, sweeps=sweeps, generator=g)
        errors.append(float((estimate.view(3, chains, T).mean(1) - exact).abs().max()))
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 0.01


def test_the_last_sweep_estimate_does_not_converge_and_the_average_does():
    nodes, edges, prior = _factors(b=2, scale=2.0)
    exact = exact_marginals(nodes, edges, PAIRS, prior, lam=1.0)
    g = torch.Generator().manual_seed(3)
    last = gibbs_marginals(nodes, edges, PAIRS, prior, lam=1.0, sweeps=1024, estimate="last", generator=g)
    g = torch.Generator().manual_seed(3)
    average = gibbs_marginals(nodes, edges, PAIRS, prior, lam=1.0, sweeps=1024, generator=g)
    assert float((average - exact).abs().max()) < 0.03 < float((last - exact).abs().max())


def test_gibbs_is_deterministic_for_a_seed_and_checks_its_options():
    nodes, edges, prior = _factors()
    runs = [gibbs_marginals(nodes, edges, PAIRS, prior, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*runs)
    with pytest.raises(ValueError, match="estimate"):
        gibbs_marginals(nodes, edges, PAIRS, prior, estimate="mode")
    with pytest.raises(ValueError, match="sweeps"):
        gibbs_marginals(nodes, edges, PAIRS, prior, sweeps=0)


def test_tilted_nce_is_eq_13_and_its_gradient_is_autograds_of_the_written_formula():
    g = torch.Generator().manual_seed(0)
    data, noise = torch.randn(5, generator=g).requires_grad_(), torch.randn(5, generator=g).requires_grad_()
    loss = nce_loss(data, noise)
    energy_data, energy_noise = -data, -noise  # the arguments are -E
    written = -(
        torch.log(1 / (1 + torch.exp(energy_data))).mean() + torch.log(1 / (1 + torch.exp(-energy_noise))).mean()
    )
    torch.testing.assert_close(loss, written)
    grads = torch.autograd.grad(loss, (data, noise))
    expected = torch.autograd.grad(written, (data, noise))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want)
    by_hand = -sum(math.log(1 / (1 + math.exp(-d))) for d in data.tolist()) / 5
    by_hand -= sum(math.log(1 / (1 + math.exp(n))) for n in noise.tolist()) / 5
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)


def test_untilted_nce_is_the_codes_p_over_p_plus_q():
    data, noise = torch.tensor([-2.0, -1.0]), torch.tensor([-3.0, -0.5])
    log_q_data, log_q_noise = torch.tensor([-1.5, -2.5]), torch.tensor([-1.0, -4.0])
    loss = nce_loss(data, noise, tilted=False, data_log_q=log_q_data, noise_log_q=log_q_noise)
    p_d, q_d, p_n, q_n = data.exp(), log_q_data.exp(), noise.exp(), log_q_noise.exp()
    expected = -(torch.log(p_d / (p_d + q_d)).mean() + torch.log(q_n / (p_n + q_n)).mean())
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="needs log q"):
        nce_loss(data, noise, tilted=False)
