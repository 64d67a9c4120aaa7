"""The methods beyond the papers against hand arithmetic and torchjd.

The property tests cover what every method keeps."""

import pytest
import torch

from mtlperf.methods import create_method, list_methods
from mtlperf.methods.cagrad import cagrad_coefficients
from mtlperf.methods.gramian import GramianWeighting
from mtlperf.methods.mgda import min_norm_weights
from mtlperf.methods.registry import method_class


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


# every method whose weights are a function of the Gramian (PCGrad's projections are batched instead)
GRAMIAN_WEIGHTINGS = [
    name
    for name in list_methods()
    if issubclass(method_class(name), GramianWeighting) and method_class(name).weights is not GramianWeighting.weights
]


@pytest.mark.parametrize("name", GRAMIAN_WEIGHTINGS)
def test_weights_do_not_depend_on_the_gradients_scale(name):
    # tiny gradients (losses of 1e-8) once broke CAGrad's dual through absolute safeguards
    g = torch.tensor([[3.089, -0.240, 1.728], [-0.240, 2.753, 1.118], [1.728, 1.118, 1.817]], dtype=torch.float64)
    exponent = 0.5 if name == "nash-mtl" else 0.0  # Nash-MTL's G α = 1/α: α scales as 1/sqrt(scale)
    unit = create_method(name, 3).weights(g)
    for scale in (1e-30, 1e-15, 1e15, 1e30):
        scaled = create_method(name, 3).weights(scale * g) * scale**exponent
        assert torch.allclose(scaled, unit, rtol=1e-6, atol=0), f"scale {scale}: {scaled} against {unit}"


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


def test_rlw_draws_what_torchjds_random_draws_from_the_same_seed():
    from torchjd.aggregation import RandomWeighting

    method, theirs = create_method("rlw", 5, seed=7), RandomWeighting()
    torch.manual_seed(7)
    for _ in range(3):
        x = torch.ones(5, dtype=torch.float64, requires_grad=True)
        ours = method.backward(x * 1.0, [x])
        torch.testing.assert_close(ours, theirs(torch.eye(5, dtype=torch.float64)), rtol=0, atol=1e-15)


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


def conflicting_jacobians(seed):
    """float64 Jacobians for T = 2, 3, 8 tasks on 16 parameters, tasks 0 and 1 in conflict."""
    torch.manual_seed(seed)
    for n_tasks in (2, 3, 8):
        jacobian = torch.randn(n_tasks, 16, dtype=torch.float64)
        jacobian[1] = -0.8 * jacobian[0] + 0.1 * jacobian[1]
        yield jacobian


def test_dualproj_and_upgrad_project_onto_the_dual_cone_by_hand():
    g = gramian_of([1.0, 0.0], [-2.0, 1.0])
    # mean (-1/2, 1/2) -> onto d_x >= 0: (0, 1/2) = 1.0 g_1 + 0.5 g_2, which -2 d_x + d_y >= 0 keeps
    torch.testing.assert_close(create_method("dualproj", 2).weights(g), torch.tensor([1.0, 0.5], dtype=torch.float64))
    # g_1/2 -> (0.1, 0.2) = 0.5 g_1 + 0.2 g_2;  g_2/2 -> (0, 0.5) = 1.0 g_1 + 0.5 g_2
    torch.testing.assert_close(create_method("upgrad", 2).weights(g), torch.tensor([1.5, 0.7], dtype=torch.float64))
    orthogonal = gramian_of([1.0, 0.0], [0.0, 2.0])  # nothing conflicts: nothing moves
    for name in ("dualproj", "upgrad"):
        weights = create_method(name, 2).weights(orthogonal)
        torch.testing.assert_close(weights, torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_dual_cone_methods_harm_no_task_and_match_torchjd():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    from torchjd._linalg import QuadprogProjector

    exact = QuadprogProjector(reg_eps=0.0)  # torchjd's default adds 1e-4 I to the normalised Gramian
    for jacobian in conflicting_jacobians(4):
        g = jacobian @ jacobian.T
        for name, theirs in (("upgrad", aggregation.UPGrad), ("dualproj", aggregation.DualProj)):
            update = create_method(name, len(g)).weights(g) @ jacobian
            assert bool((jacobian @ update >= -1e-12).all())
            torch.testing.assert_close(update, theirs(projector=exact)(jacobian), rtol=0, atol=1e-10)  # measured 2e-14


def test_aligned_mtl_gives_equal_orthogonal_components_by_hand_and_matches_torchjd():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    # norms 1 and 3, orthogonal: B = sqrt(1) diag(1, 1/3), w = B 1/2 = (1/2, 1/6), d = (1/2, 1/2)
    torch.testing.assert_close(
        create_method("aligned-mtl", 2).weights(gramian_of([1.0, 0.0], [0.0, 3.0])),
        torch.tensor([0.5, 1 / 6], dtype=torch.float64),
    )
    for jacobian in conflicting_jacobians(5):
        for scale in ("min", "median", "rmse"):
            ours = create_method("aligned-mtl", len(jacobian), scale=scale).weights(jacobian @ jacobian.T) @ jacobian
            theirs = aggregation.AlignedMTL(scale_mode=scale)(jacobian)
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)  # measured 3e-14


def test_nash_mtl_solves_the_bargaining_equation_and_matches_torchjd():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    # orthogonal gradients: alpha_t = 1 / |g_t|
    torch.testing.assert_close(
        create_method("nash-mtl", 2).weights(gramian_of([2.0, 0.0], [0.0, 0.5])),
        torch.tensor([0.5, 2.0], dtype=torch.float64),
    )
    for jacobian in conflicting_jacobians(6):
        g, n_tasks = jacobian @ jacobian.T, len(jacobian)
        alpha = create_method("nash-mtl", n_tasks).weights(g)
        torch.testing.assert_close(alpha * (g @ alpha), torch.ones(n_tasks, dtype=torch.float64), rtol=0, atol=1e-8)
        for max_norm in (0.0, 1.0):
            ours = create_method("nash-mtl", n_tasks, max_norm=max_norm).weights(g) @ jacobian
            theirs = aggregation.NashMTL(n_tasks=n_tasks, max_norm=max_norm)(jacobian)
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)  # their convex programs: measured 3e-7


def test_nash_mtl_reuses_its_weights_between_updates():
    method = create_method("nash-mtl", 2, update_every=2)
    first = method.weights(gramian_of([2.0, 0.0], [0.0, 0.5]))
    torch.testing.assert_close(method.weights(gramian_of([1.0, 0.0], [0.0, 1.0])), first)
    torch.testing.assert_close(method.weights(gramian_of([1.0, 0.0], [0.0, 1.0])), torch.ones(2, dtype=torch.float64))


def test_gradvac_first_step_is_pcgrad_and_its_average_moves_by_beta():
    from mtlperf.methods.gradvac import vaccinated_coefficients
    from mtlperf.methods.pcgrad import conflict_free_coefficients, projection_order

    for jacobian in conflicting_jacobians(7):
        g, n_tasks = jacobian @ jacobian.T, len(jacobian)
        order = projection_order(n_tasks, torch.Generator().manual_seed(0))
        average = torch.zeros(n_tasks, n_tasks, dtype=torch.float64)
        # with every average at 0, raising a negative cosine to 0 is PCGrad's projection
        ours = vaccinated_coefficients(g, order, average, beta=0.25, eps=0.0)
        torch.testing.assert_close(ours, conflict_free_coefficients(g, order), rtol=0, atol=1e-12)
        if n_tasks == 2:  # each task's only pair sees the original cosine
            cosine = g[0, 1] / (g[0, 0] * g[1, 1]).sqrt()
            torch.testing.assert_close(average, torch.tensor([[0.0, 0.25], [0.25, 0.0]], dtype=torch.float64) * cosine)


def test_gradvac_matches_torchjd_over_steps_on_one_order():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    from unittest import mock

    from mtlperf.methods.gradvac import vaccinated_coefficients

    for jacobian in conflicting_jacobians(8):
        n_tasks = len(jacobian)
        order = torch.tensor([[j for j in range(n_tasks) if j != i] for i in range(n_tasks)], dtype=torch.long)
        average, theirs = torch.zeros(n_tasks, n_tasks, dtype=torch.float64), aggregation.GradVac(beta=0.5)
        with mock.patch("torch.randperm", lambda n: torch.arange(n)):  # torchjd's order: the others ascending
            for _ in range(4):
                step_jacobian = jacobian + 0.3 * torch.randn_like(jacobian)
                ours = vaccinated_coefficients(step_jacobian @ step_jacobian.T, order, average, 0.5) @ step_jacobian
                torch.testing.assert_close(ours, theirs(step_jacobian), rtol=0, atol=1e-7)  # eps 1e-8: measured 3e-9


def test_famo_weights_and_logit_step_by_hand():
    method = create_method("famo", 3, lr=0.5, decay=0.0)
    x = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64, requires_grad=True)
    weights = method.backward(x * 1.0, [x])
    inverse = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)
    torch.testing.assert_close(weights, inverse / inverse.sum())  # z uniform: c z_t / L_t
    method.update_after_step(torch.tensor([0.5, 2.0, 2.0], dtype=torch.float64))
    decrease, z = torch.tensor([2.0, 1.0, 2.0], dtype=torch.float64).log(), torch.full((3,), 1 / 3, dtype=torch.float64)
    torch.testing.assert_close(method.logits.detach(), -0.5 * z * (decrease - z @ decrease))
    assert float(method.logits.detach()[1]) > 0  # the task that improved least gains weight


def test_famo_leaves_absent_tasks_out():
    method = create_method("famo", 3)
    x = torch.tensor([1.0, 0.0, 4.0], dtype=torch.float64, requires_grad=True)
    weights = method.backward(x * 1.0, [x])
    torch.testing.assert_close(weights, torch.tensor([0.8, 0.0, 0.2], dtype=torch.float64))
    method.update_after_step(torch.tensor([0.5, 0.0, 4.0], dtype=torch.float64))
    assert bool(torch.isfinite(method.logits).all()) and float(method.logits.detach()[0]) < 0


def test_the_training_step_gives_famo_the_same_batchs_losses_after_the_optimiser_step():
    from mtlperf.step import TrainingStep

    class Linear(torch.nn.Linear):
        def forward_with_parts(self, inputs):
            return self(inputs), list(self.parameters())

    torch.manual_seed(0)
    model, inputs, labels = Linear(4, 3), torch.randn(8, 4), torch.randn(8, 3)
    method = create_method("famo", 3)
    seen = []
    method.update_after_step = lambda losses: seen.append((losses, model.weight.detach().clone()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = TrainingStep(model, method, optimizer, lambda outputs, y: (outputs - y).square().mean(0))
    step(inputs, labels)
    ((losses, weight_then),) = seen
    torch.testing.assert_close(losses, (model(inputs) - labels).square().mean(0).detach())
    assert torch.equal(weight_then, model.weight.detach()) and not losses.requires_grad


def test_cagrad_matches_torchjd_and_its_dual_is_no_worse():
    aggregation = __import__("pytest").importorskip("torchjd.aggregation")
    for jacobian in conflicting_jacobians(9):
        g, c = jacobian @ jacobian.T, 0.4
        ours, theirs = cagrad_coefficients(g, c), aggregation.CAGradWeighting(c=c)(g)
        # Clarabel's tolerance: measured within 2.2e-5 at T = 8, our dual objective lower by 7e-9
        torch.testing.assert_close(ours @ jacobian, theirs @ jacobian, rtol=0, atol=1e-4)
        assert cagrad_dual(ours, g, c) <= cagrad_dual(theirs, g, c) + 1e-10


def cagrad_dual(coefficients, g, c):
    """The dual objective at the w behind ``a = 1/T + λ w`` (``Σ w = 1``)."""
    mean = torch.full((len(g),), 1 / len(g), dtype=torch.float64)
    w = (coefficients - mean) / (coefficients.sum() - 1)
    return float(w @ g @ mean + c * (mean @ g @ mean).sqrt() * (w @ g @ w).sqrt())
