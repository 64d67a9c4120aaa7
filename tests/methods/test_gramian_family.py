"""MGDA, CAGrad, RLW and GLS against hand arithmetic (the property tests cover what every method keeps)."""

import torch

from mtlperf.methods import create_method
from mtlperf.methods.cagrad import cagrad_coefficients
from mtlperf.methods.mgda import min_norm_weights


def gramian_of(*gradients):
    jacobian = torch.tensor(gradients, dtype=torch.float64)
    return jacobian @ jacobian.T


def test_mgda_on_two_tasks_is_the_closed_form_min_norm_point():
    g1, g2 = torch.tensor([1.0, 0.2, -0.5], dtype=torch.float64), torch.tensor([-0.3, 1.0, 0.4], dtype=torch.float64)
    gamma = ((g2 - g1) @ g2 / (g1 - g2).square().sum()).clamp(0, 1)
    w = min_norm_weights(gramian_of(g1.tolist(), g2.tolist()), iterations=1000, tolerance=1e-12)
    torch.testing.assert_close(w, torch.stack([gamma, 1 - gamma]), rtol=0, atol=1e-6)


def test_mgda_weights_meet_the_optimality_conditions_and_skip_absent_tasks():
    torch.manual_seed(0)
    jacobian = torch.randn(6, 20, dtype=torch.float64)
    jacobian[2] = 0.0  # absent from the batch
    g = jacobian @ jacobian.T
    w = min_norm_weights(g, iterations=5000, tolerance=1e-10)
    assert w[2] == 0 and abs(float(w.sum()) - 1) < 1e-12 and bool((w >= 0).all())
    gw, norm = g @ w, w @ g @ w
    present = torch.arange(6) != 2
    assert bool((gw[present] >= norm - 1e-8).all())  # no vertex lowers the norm: the hull's min-norm point
    assert bool(((gw[present] - norm).abs() < 1e-6)[w[present] > 1e-6].all())  # every vertex used is on it


def test_mgda_with_aligned_gradients_follows_the_shorter_one():
    w = min_norm_weights(gramian_of([1.0, 0.0], [3.0, 0.0]), iterations=100, tolerance=1e-12)
    torch.testing.assert_close(w, torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_cagrad_without_its_ball_is_the_mean_gradient_and_symmetric_tasks_share_the_ball():
    g = gramian_of([1.0, 0.0], [0.0, 1.0])
    torch.testing.assert_close(cagrad_coefficients(g, 0.0), torch.tensor([0.5, 0.5], dtype=torch.float64))
    # orthogonal equal gradients: w = (1/2, 1/2), g_w = g_0, so a_t = 1/2 + c/2
    torch.testing.assert_close(
        cagrad_coefficients(g, 0.4), torch.tensor([0.7, 0.7], dtype=torch.float64), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        cagrad_coefficients(g, 0.4, rescale=True),
        torch.tensor([0.7, 0.7], dtype=torch.float64) / 1.16,
        atol=1e-5,
        rtol=0,
    )


def test_cagrad_dual_solution_beats_every_sampled_simplex_point():
    torch.manual_seed(1)
    jacobian = torch.randn(5, 12, dtype=torch.float64)
    g, c = jacobian @ jacobian.T, 0.4
    coefficients = cagrad_coefficients(g, c)
    mean = torch.full((5,), 0.2, dtype=torch.float64)
    g0 = float(mean @ g @ mean) ** 0.5
    # recover w from a = 1/T + lambda w with sum(w) = 1
    lam = float(coefficients.sum() - 1)
    w = (coefficients - mean) / lam

    def dual(v):
        return float(v @ g @ mean + c * g0 * (v @ g @ v) ** 0.5)

    samples = torch.distributions.Dirichlet(torch.ones(5, dtype=torch.float64)).sample((2000,))
    assert dual(w) <= min(dual(v) for v in samples) + 1e-9


def test_rlw_draws_a_new_point_of_the_simplex_every_step_from_its_seed():
    def weights(seed, steps=3):
        method, out = create_method("rlw", 4, seed=seed), []
        for _ in range(steps):
            x = torch.ones(4, requires_grad=True)
            out.append(method.backward((x * 2).square(), [x]))
        return torch.stack(out)

    w = weights(0)
    assert torch.allclose(w.sum(1), torch.ones(3, dtype=w.dtype)) and bool((w > 0).all())
    assert not torch.equal(w[0], w[1]) and torch.equal(w, weights(0)) and not torch.equal(w, weights(1))


def test_gls_weights_are_the_geometric_means_gradient_and_skip_absent_tasks():
    def weights(values):
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        return create_method("gls", len(values)).backward(x * 1.0, [x])

    torch.testing.assert_close(weights([1.0, 4.0]), torch.tensor([1.0, 0.25], dtype=torch.float64))
    torch.testing.assert_close(weights([1.0, 0.0, 4.0]), torch.tensor([1.0, 0.0, 0.25], dtype=torch.float64))
    many = weights([1e-3] * 300)  # the product itself would underflow to 0
    torch.testing.assert_close(many, torch.full((300,), 1 / 300, dtype=torch.float64))


def test_mgda_matches_torchjd_converged_on_the_same_jacobians():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    torch.manual_seed(2)
    for n_tasks in (2, 3, 8):
        jacobian = torch.randn(n_tasks, 16, dtype=torch.float64)
        jacobian[1] = -0.8 * jacobian[0] + 0.1 * jacobian[1]  # a conflicting pair
        ours = min_norm_weights(jacobian @ jacobian.T, iterations=20_000, tolerance=1e-14) @ jacobian
        theirs = aggregation.MGDA(epsilon=1e-12, max_iters=20_000)(jacobian)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-7)  # measured: within 1.2e-9 on T = 4


def test_imtl_g_gives_equal_projections_on_every_unit_gradient_and_matches_torchjd():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    torch.manual_seed(3)
    for n_tasks in (2, 3, 8):
        jacobian = torch.randn(n_tasks, 16, dtype=torch.float64)
        g = jacobian @ jacobian.T
        w = create_method("imtl-g", n_tasks).weights(g)
        projections = (w @ jacobian) @ (jacobian / jacobian.norm(dim=1, keepdim=True)).T
        torch.testing.assert_close(projections, projections.mean().expand(n_tasks), rtol=1e-9, atol=0)
        assert abs(float(w.sum()) - 1) < 1e-12
        torch.testing.assert_close(w @ jacobian, aggregation.IMTLG()(jacobian), rtol=1e-9, atol=1e-12)
