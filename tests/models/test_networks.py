from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlperf.models import MODEL_KINDS, ModelParts, MultiTaskNet, SparseInputLinear, TaskHeads, build_model
from mtlperf.sparse import SparseBits


def random_bits(rows: int, n_bits: int, density: float = 0.1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    dense = (torch.rand(rows, n_bits, generator=generator) < density).float()
    dense[1] = 0  # a molecule with no bit set
    return dense


def test_sparse_input_linear_matches_dense_forward_and_backward():
    torch.manual_seed(0)
    layer = SparseInputLinear(96, 24)
    dense = random_bits(16, 96)
    grad_out = torch.randn(16, 24)

    out_dense = layer(dense)
    out_dense.backward(grad_out)
    dense_grads = [layer.weight.grad.clone(), layer.bias.grad.clone()]
    layer.zero_grad()
    out_sparse = layer(SparseBits.from_dense(dense))
    out_sparse.backward(grad_out)

    torch.testing.assert_close(out_sparse, out_dense, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_sparse[1], layer.bias.detach())  # no bits: the bias alone
    torch.testing.assert_close(layer.weight.grad, dense_grads[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layer.bias.grad, dense_grads[1], atol=1e-5, rtol=1e-5)


def test_sparse_input_linear_is_an_nn_linear_with_its_init_and_state_dict():
    torch.manual_seed(3)
    reference = nn.Linear(40, 7)
    torch.manual_seed(3)
    layer = SparseInputLinear(40, 7)
    assert layer.weight.shape == (7, 40)
    assert {k: v.shape for k, v in layer.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    torch.testing.assert_close(layer.weight, reference.weight, rtol=0, atol=0)
    x = random_bits(5, 40)
    torch.testing.assert_close(layer(SparseBits.from_dense(x)), reference(x), atol=1e-6, rtol=1e-5)


def test_sparse_input_linear_is_still_right_after_its_weight_is_replaced():
    layer = SparseInputLinear(30, 4)
    layer.weight = nn.Parameter(torch.randn(4, 30))  # row-major: the slow but correct path
    x = random_bits(6, 30)
    torch.testing.assert_close(layer(SparseBits.from_dense(x)), F.linear(x, layer.weight, layer.bias))


def test_sparse_input_linear_rejects_a_batch_of_the_wrong_width():
    with pytest.raises(ValueError, match="32 bits"):
        SparseInputLinear(40, 3)(SparseBits.from_dense(torch.ones(2, 32)))


@pytest.mark.parametrize("n_out", [1, 3])
def test_task_heads_equal_separate_linear_heads(n_out):
    torch.manual_seed(7)
    heads = TaskHeads(4, 10, n_out)
    torch.manual_seed(7)
    separate = [nn.Linear(10, n_out) for _ in range(4)]
    for t, linear in enumerate(separate):  # same draws in the same order: same initial heads
        torch.testing.assert_close(heads.weight[t], linear.weight, rtol=0, atol=0)
        torch.testing.assert_close(heads.bias[t], linear.bias, rtol=0, atol=0)
    z = torch.randn(6, 10)
    expected = torch.stack([linear(z) for linear in separate], dim=1)  # [B, T, out]
    out = heads(z)
    if n_out == 1:
        assert out.shape == (6, 4)
        expected = expected.squeeze(-1)
    else:
        assert out.shape == (6, 4, n_out)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)


def test_lbtw_network_has_the_papers_layers():
    model = build_model("lbtw", 1024, 5)
    kinds = [type(layer) for layer in model.trunk]
    assert kinds == [SparseInputLinear, nn.Dropout, nn.ReLU, nn.Linear, nn.Dropout, nn.Sigmoid, nn.BatchNorm1d]
    assert model.trunk[0].weight.shape == (2000, 1024) and model.trunk[3].weight.shape == (2000, 2000)
    assert all(layer.p == 0.25 for layer in model.trunk if isinstance(layer, nn.Dropout))
    assert model.heads.weight.shape == (5, 1, 2000)


def test_pyramidal_network_has_the_papers_layers_and_logits_per_task():
    model = build_model("pyramidal", 64, 3)
    assert [type(layer) for layer in model.trunk] == [SparseInputLinear, nn.ReLU, nn.Linear, nn.ReLU]
    assert model.trunk[2].weight.shape == (100, 2000)
    assert model(torch.rand(4, 64)).shape == (4, 3)


def test_mtregression_network_has_four_tanh_layers_and_wide_heads():
    model = build_model("mtregression", 250, 10)
    assert sum(isinstance(layer, nn.Tanh) for layer in model.trunk) == 4
    assert [layer.out_features for layer in model.trunk if isinstance(layer, nn.Linear)] == [100] * 4
    assert model(torch.randn(3, 250)).shape == (3, 10, 100)


def test_build_model_options_change_the_network():
    model = build_model("lbtw", 50, 2, hidden=(32, 16, 8), dropout=0.0, n_outputs=3)
    assert [layer.out_features for layer in model.trunk if isinstance(layer, nn.Linear)] == [32, 16, 8]
    assert not any(isinstance(layer, nn.Dropout) for layer in model.trunk)
    assert isinstance(model.trunk[-2], nn.Sigmoid) and model.trunk[-1].num_features == 8
    assert model(torch.rand(4, 50)).shape == (4, 2, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "resnet"}, "lbtw, pyramidal, mtregression"),
        ({"hidden": ()}, "hidden"),
        ({"hidden": (10, 0)}, "hidden width"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_tasks": 0}, "n_tasks"),
        ({"n_inputs": 2.5}, "n_inputs"),
        ({"init": "xavier"}, "torch, lbtw-code"),
    ],
)
def test_build_model_rejects_bad_options(kwargs, message):
    args = {"kind": "pyramidal", "n_inputs": 16, "n_tasks": 2, "hidden": (8, 4), **kwargs}
    with pytest.raises(ValueError, match=message):
        build_model(args.pop("kind"), args.pop("n_inputs"), args.pop("n_tasks"), **args)


@pytest.mark.parametrize("kind", [kind for kind in MODEL_KINDS if kind != "gin"])  # gin reads graphs
def test_model_gives_the_same_numbers_for_bits_and_dense_input(kind):
    torch.manual_seed(0)
    model = build_model(kind, 80, 3, hidden=(24, 12)).eval()
    x = random_bits(9, 80, density=0.3)
    torch.testing.assert_close(model(SparseBits.from_dense(x)), model(x), atol=1e-5, rtol=1e-5)


def test_same_seed_gives_the_same_model_and_outputs():
    def run():
        torch.manual_seed(11)
        model = build_model("lbtw", 40, 4, hidden=(16, 16))  # train mode: dropout draws too
        return model(random_bits(8, 40)), model.state_dict()

    (out_a, state_a), (out_b, state_b) = run(), run()
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], rtol=0, atol=0)


def test_parts_give_the_last_shared_linear_layer_of_this_forward():
    torch.manual_seed(0)
    model = build_model("pyramidal", 30, 3, hidden=(20, 10))
    logits, parts = model.forward_with_parts(SparseBits.from_dense(random_bits(5, 30)))
    weight, bias = model.last_shared_parameters()
    assert weight is model.trunk[2].weight and bias is model.trunk[2].bias
    assert parts.last_shared == (weight, bias)
    z_in, z_out, layer_weight, layer_bias = parts.linear_layer_of(parts.last_shared)
    assert layer_weight is weight and layer_bias is bias and parts.linear_layers[-1].output is z_out
    torch.testing.assert_close(z_out, F.linear(z_in, weight, bias))  # pre-activation output
    (grad_out,) = torch.autograd.grad(logits.sum(), z_out, retain_graph=True)  # the graph's own tensor
    assert grad_out.abs().sum() > 0
    (grad_in,) = torch.autograd.grad(logits.sum(), z_in)
    assert grad_in.shape == (5, 20)


def test_parts_give_the_head_weight_parameter_itself():
    model = build_model("mtregression", 12, 4, hidden=(6,), n_outputs=2)
    _, parts = model.forward_with_parts(torch.rand(3, 12))
    assert parts.heads is model.heads.weight and parts.heads.is_leaf
    assert parts.heads.shape[0] == 4
    with pytest.raises(ValueError, match="not a view"):
        ModelParts(shared=model.shared_parameters(), heads=model.heads.weight.flatten(1))


def test_a_plain_parameter_list_is_parts_with_nothing_else():
    model = build_model("pyramidal", 10, 2, hidden=(8, 4))
    parts = ModelParts.of(model.shared_parameters())
    assert parts.missing(["last_shared", "heads", "linear_layers", "features"]) == [
        "last_shared",
        "heads",
        "linear_layers",
        "features",
    ]
    with pytest.raises(ValueError, match="unknown model part"):
        parts.missing(["last_shared_io"])


def test_shared_parameters_are_the_trunk_without_the_heads():
    model = build_model("lbtw", 20, 2, hidden=(8, 8))
    shared = model.shared_parameters()
    assert {id(p) for p in shared} == {id(p) for p in model.trunk.parameters()}
    assert not {id(model.heads.weight), id(model.heads.bias)} & {id(p) for p in shared}
    assert isinstance(model, MultiTaskNet) and model.n_tasks == 2


def test_a_model_can_be_deep_copied_after_a_forward():
    model = build_model("pyramidal", 10, 2, hidden=(8, 4))
    model(torch.rand(3, 10))
    clone = copy.deepcopy(model)  # fine tuning copies trained networks
    assert not [name for name, value in vars(model).items() if isinstance(value, torch.Tensor)]  # no graph left
    torch.testing.assert_close(clone(torch.ones(2, 10)), model(torch.ones(2, 10)))


def test_lbtw_code_init_sets_the_authors_initial_values():
    torch.manual_seed(0)
    model = build_model("lbtw", 200, 3, hidden=(300, 300), init="lbtw-code")
    first = model.trunk[0]
    assert abs(float(first.weight.detach().std()) - 0.02) < 0.002
    assert torch.all(first.bias == 1) and torch.all(model.heads.bias == 1)
    assert torch.all(model.trunk[-1].bias == 0) and abs(float(model.trunk[-1].weight.detach().mean()) - 1) < 0.01
