from __future__ import annotations

import math

import pytest
import torch

from mtlperf.methods import NonFiniteLossError, create_method, list_methods, parse_spec


def test_list_methods_has_every_loss_only_method():
    assert {"constant", "ideal-constant", "lbtw", "slaw", "dwa", "uncertainty"} <= set(list_methods())
    assert list_methods() == sorted(list_methods())


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'lbtww'") as error:
        create_method("lbtww", n_tasks=2)
    for name in ("constant", "lbtw", "slaw", "dwa", "uncertainty"):
        assert name in str(error.value)


def test_unknown_hyperparameter_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown hyperparameter") as error:
        create_method("lbtw", n_tasks=2, beta=0.9)
    assert "beta" in str(error.value)
    assert "valid: alpha, l0, refresh, renormalize" in str(error.value)


def test_parse_spec_types_values_like_the_defaults():
    name, hp = parse_spec("lbtw:alpha=0.1,renormalize=true")
    assert name == "lbtw" and hp == {"alpha": 0.1, "renormalize": True}
    assert type(hp["alpha"]) is float and type(hp["renormalize"]) is bool
    assert parse_spec(" slaw : warmup=10 , beta=0.9") == ("slaw", {"warmup": 10, "beta": 0.9})
    assert type(parse_spec("slaw:warmup=10")[1]["warmup"]) is int
    assert parse_spec("dwa:mode=step") == ("dwa", {"mode": "step"})
    assert parse_spec("ideal-constant:weights=1;2.5") == ("ideal-constant", {"weights": [1.0, 2.5]})
    assert parse_spec("lbtw:renormalize=off")[1]["renormalize"] is False


def test_parse_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="alpha='abc' is not a valid float"):
        parse_spec("lbtw:alpha=abc")
    with pytest.raises(ValueError, match="renormalize='maybe'"):
        parse_spec("lbtw:renormalize=maybe")
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_spec("lbtw:alpha")


def test_spec_round_trips_through_parse_spec():
    method = create_method("lbtw", n_tasks=3, alpha=0.1, renormalize=True)
    name, hp = parse_spec(method.spec())
    again = create_method(name, 3, **hp)
    assert again.hparams == method.hparams
    assert create_method("slaw", 3).spec() == "slaw"


def test_constant_sums_the_losses():
    p = torch.tensor([1.0, 1.0], requires_grad=True)
    weights = create_method("constant", n_tasks=2).backward(torch.tensor([3.0, 5.0]) * p**2, [p])
    assert weights.tolist() == [1.0, 1.0]
    assert p.grad.tolist() == [6.0, 10.0]  # d/dp (3 p0^2 + 5 p1^2) at p = 1


def test_backward_accumulates_into_grad_like_loss_backward():
    p = torch.tensor([1.0, 1.0], requires_grad=True)
    p.grad = torch.tensor([1.0, 1.0])
    create_method("constant", n_tasks=2).backward(torch.tensor([3.0, 5.0]) * p**2, [p])
    assert p.grad.tolist() == [7.0, 11.0]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_names_task_and_step(bad):
    method = create_method("constant", n_tasks=3)
    p = torch.ones(3, requires_grad=True)
    for _ in range(2):
        method.backward(torch.tensor([1.0, 2.0, 3.0]) * p, [p])
    with pytest.raises(NonFiniteLossError, match="task 1 .* at step 2") as error:
        method.backward(torch.tensor([1.0, bad, 3.0]) * p, [p])
    assert (error.value.task, error.value.step) == (1, 2)


def test_wrong_number_of_losses_is_a_value_error():
    p = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="expected a vector of 3 task losses, got shape \\(2,\\)"):
        create_method("constant", n_tasks=3).backward(p * 2, [p])


def test_the_readme_method_table_has_a_row_for_every_method_and_strategy():
    import re
    from pathlib import Path

    from mtlperf.methods import list_methods
    from mtlperf.train import STRATEGIES

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \| [^|]+ \| [^|]+ \|$", readme, flags=re.MULTILINE))
    assert {*list_methods(), *STRATEGIES} <= rows, sorted({*list_methods(), *STRATEGIES} - rows)
