"""The training loop: every method and strategy runs, metrics are sklearn's, runs repeat exactly."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

import mtlperf.train as train_module
from mtlperf.config import PRESETS, TrainConfig
from mtlperf.data import load_dataset
from mtlperf.methods import list_methods, parse_spec
from mtlperf.train import STRATEGIES, TrainingDiverged, copy_shared, make_split, new_model, train

TINY = TrainConfig(hidden=(32, 16), epochs=1, batch_size=256, max_rows=1200, seed=3, device="cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tox21():
    return load_dataset("tox21", n_tasks=3)


@pytest.fixture(scope="module")
def toxcast():
    return load_dataset("toxcast", n_tasks=8)


def _runnable(spec: str, n_tasks: int) -> str:
    """IdealConstant needs weights where the data does not know its ideal ones."""
    return f"{spec}:weights={';'.join(['1'] * n_tasks)}" if spec == "ideal-constant" else spec


def _finite_metrics(result: dict, n_tasks: int) -> None:
    test = result["test"]
    assert len(test["pr_auc"]) == len(test["roc_auc"]) == n_tasks
    assert math.isfinite(test["mean_pr_auc"]) and 0 < test["mean_pr_auc"] <= 1
    assert math.isfinite(test["mean_roc_auc"]) and 0 < test["mean_roc_auc"] <= 1
    assert math.isfinite(result["valid"]["mean_pr_auc"])


@pytest.mark.parametrize("spec", [*list_methods(), *STRATEGIES, "rmtl:task=1"])
def test_every_method_and_strategy_trains_on_tox21(tox21, spec):
    result = train(tox21, _runnable(spec, 3), TINY, progress=False)
    _finite_metrics(result, 3)
    assert parse_spec(result["method"]) == parse_spec(_runnable(spec, 3)) and result["dataset"] == tox21.name


@pytest.mark.parametrize("spec", [*list_methods(), "stl"])
def test_every_method_trains_on_a_toxcast_subset(toxcast, spec):
    result = train(toxcast, _runnable(spec, 8), TINY.replace(max_rows=None, batch_size=1024), progress=False)
    _finite_metrics(result, 8)


def test_reported_metrics_are_sklearns_on_the_saved_predictions(tox21):
    result = train(tox21, "constant", TINY.replace(save_predictions=True), progress=False)
    saved = result["predictions"]["test"]
    labels, scores = tox21.labels[saved["rows"]], np.asarray(saved["scores"])
    pr, roc = [], []
    for t, name in enumerate(tox21.task_names):
        known = ~np.isnan(labels[:, t])
        pr.append(average_precision_score(labels[known, t], scores[known, t]))
        roc.append(roc_auc_score(labels[known, t], scores[known, t]))
        assert result["test"]["pr_auc"][name] == pytest.approx(pr[-1], abs=1e-9)
        assert result["test"]["roc_auc"][name] == pytest.approx(roc[-1], abs=1e-9)
    assert result["test"]["mean_pr_auc"] == pytest.approx(np.mean(pr), abs=1e-9)
    assert result["test"]["mean_roc_auc"] == pytest.approx(np.mean(roc), abs=1e-9)


def test_same_seed_same_numbers_and_another_seed_differs(tox21):
    config = TINY.replace(epochs=2, dropout=0.25)
    first, second = (train(tox21, "constant", config, progress=False) for _ in range(2))
    other = train(tox21, "constant", config.replace(seed=4), progress=False)
    for result in (first, second, other):
        result.pop("seconds")
    assert first == second
    assert other["test"] != first["test"]


def test_a_nan_loss_names_the_task_and_the_step(tox21, monkeypatch):
    real, calls = train_module.task_losses, []

    def poisoned(*args, **kwargs):
        losses = real(*args, **kwargs)
        calls.append(1)
        return losses * torch.tensor([1.0, math.nan, 1.0]) if len(calls) == 2 else losses

    monkeypatch.setattr(train_module, "task_losses", poisoned)
    with pytest.raises(TrainingDiverged, match=rf"'{tox21.task_names[1]}'.*step 2"):
        train(tox21, "constant", TINY, progress=False)


def test_model_selection_keeps_the_best_validation_epoch(tox21):
    result = train(tox21, "constant", TINY.replace(epochs=4, lr=3e-2), progress=False)
    curve = [epoch["valid_mean_pr_auc"] for epoch in result["history"]]
    assert len(result["history"]) == 4
    assert result["best_epoch"] == 1 + int(np.argmax(curve))
    assert result["valid"]["mean_pr_auc"] == pytest.approx(max(curve), abs=1e-9)


def test_stl_drops_the_rows_missing_its_label(tox21):
    config = TINY.replace(max_rows=None, batch_size=512)
    result = train(tox21, "stl", config, progress=False)
    split = train_module.make_split(tox21, config)
    expected = sum(math.ceil(split.labelled_for(tox21.labels, t).train.size / 512) for t in range(3))
    assert split.labelled_for(tox21.labels, 0).train.size < split.train.size  # Tox21 has missing labels
    assert result["steps"] == expected
    assert set(result["best_epoch"]) == set(tox21.task_names)


def test_finetune_starts_from_the_multitask_trunk(tox21):
    source, target = new_model(tox21, 2, TINY, "cpu"), new_model(tox21, 1, TINY, "cpu")
    copy_shared(source, target)
    for a, b in zip(source.shared_parameters(), target.shared_parameters()):
        assert torch.equal(a, b)
    result = train(tox21, "finetune", TINY, progress=False)
    assert {f"{name} (pretrain)" for name in tox21.task_names} <= set(result["history"])


def test_rmtl_per_task_runs_once_per_task(tox21):
    per_task = train(tox21, "rmtl-per-task", TINY, progress=False)
    single = train(tox21, "rmtl:task=0", TINY, progress=False)
    assert set(per_task["best_epoch"]) == set(tox21.task_names)
    assert isinstance(single["best_epoch"], int)
    # run 0 is the rmtl:task=0 run, so task 0's metric is the same number
    name = tox21.task_names[0]
    assert per_task["test"]["pr_auc"][name] == pytest.approx(single["test"]["pr_auc"][name], abs=1e-12)


def test_sparse_and_dense_inputs_train_alike(tox21):
    dense = dataclasses.replace(tox21, inputs=tox21.inputs.dense(np.arange(len(tox21))))
    sparse_result = train(tox21, "constant", TINY, progress=False)
    dense_result = train(dense, "constant", TINY, progress=False)
    assert dense_result["test"]["mean_pr_auc"] == pytest.approx(sparse_result["test"]["mean_pr_auc"], abs=1e-4)


def test_result_has_the_documented_keys(tox21):
    result = train(tox21, "constant", TINY, progress=False)
    for key in (
        "method",
        "dataset",
        "n_tasks",
        "seed",
        "device",
        "device_name",
        "torch",
        "config",
        "best_epoch",
        "test",
        "valid",
        "history",
    ):
        assert key in result
    assert {"train_loss", "valid_mean_pr_auc", "weights"} <= set(result["history"][0])
    assert result["history"][0]["weights"] == [1.0, 1.0, 1.0]


def test_presets_carry_the_papers_settings():
    lbtw, slaw = PRESETS["lbtw"], PRESETS["slaw-mtregression"]
    assert (lbtw.batch_size, lbtw.epochs, lbtw.dropout, lbtw.weight_decay) == (1024, 100, 0.25, 5e-4)
    assert lbtw.fractions == (0.6, 0.2, 0.2)
    assert (slaw.batch_size, slaw.lr, slaw.clip, slaw.adam_eps, slaw.max_steps) == (304, 7e-4, 0.5, 1e-5, 9900)
    pcba = PRESETS["slaw-pcba"]
    assert (pcba.model, pcba.epochs, pcba.batch_size, pcba.lr, pcba.clip, pcba.class_weights) == (
        "pyramidal",
        100,
        40_000,
        3e-4,
        0.5,
        "pooled",
    )
    assert pcba.fractions == (0.9, 0.0, 0.1)
    assert TINY.replace(epochs=7, lr=None).epochs == 7 and TINY.replace(lr=None).lr == TINY.lr


@pytest.mark.parametrize(
    "change",
    [
        {"epochs": 0},
        {"batch_size": -1},
        {"reduction": "sum"},
        {"split": "stratified"},
        {"fractions": (0.5, 0.5)},
        {"clip": 0.0},
        {"hidden": (32, 0)},
        {"dropout": 1.5},
        {"seed": -1},
        {"seed": 2**64},
        {"split_seed": 1.5},
        {"class_weights": "balanced"},
    ],
)
def test_bad_configuration_is_a_clear_value_error(change):
    with pytest.raises(ValueError, match=next(iter(change)).split("_")[0]):
        TINY.replace(**change)


def test_class_weights_per_task_or_pooled_reach_the_loss(tox21, monkeypatch):
    seen = []
    original = train_module.task_losses
    monkeypatch.setattr(
        train_module,
        "task_losses",
        lambda *a, pos_weight=None, **k: seen.append(pos_weight) or original(*a, pos_weight=pos_weight, **k),
    )
    train(tox21, "constant", TINY.replace(class_weights="per-task"), progress=False)
    per_task = seen[-1]
    train(tox21, "constant", TINY.replace(class_weights="pooled"), progress=False)
    pooled = seen[-1]
    assert len(set(per_task.tolist())) == 3 and len(set(pooled.tolist())) == 1
    labels = tox21.labels[make_split(tox21, TINY).train]
    assert pooled[0].item() == pytest.approx((labels == 0).sum() / (labels == 1).sum())


def test_unknown_method_or_hyperparameter_names_the_choices(tox21):
    with pytest.raises(ValueError, match="valid: .*constant.*stl.*finetune"):
        train(tox21, "nosuch", TINY, progress=False)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        train(tox21, "constant:alpha=1", TINY, progress=False)


# MTRegression (SLAW paper): the weights that balance the tasks are known, so methods can be checked.


@pytest.fixture(scope="module")
def mtregression():
    return load_dataset("mtregression")


def _weight_error(dataset, spec: str, steps: int) -> list[float]:
    config = PRESETS["slaw-mtregression"].replace(max_steps=steps, device="cpu")
    result = train(dataset, spec, config, progress=False)
    assert math.isfinite(result["train_normalized_loss"]) and math.isfinite(result["test_normalized_loss"])
    assert len(result["loss_weight_error"]) == steps
    return result["loss_weight_error"]


def test_constant_weights_have_the_uniform_weight_error(mtregression):
    ideal = np.asarray(mtregression.meta["ideal_weights"])
    errors = _weight_error(mtregression, "constant", 30)
    assert errors[-1] == pytest.approx(np.mean((1 - ideal) ** 2), rel=1e-6)


def test_ideal_constant_takes_the_datas_ideal_weights(mtregression):
    assert max(_weight_error(mtregression, "ideal-constant", 5)) < 1e-12


def test_gradnorm_moves_its_weights_towards_the_ideal(mtregression):
    uniform = np.mean((1 - np.asarray(mtregression.meta["ideal_weights"])) ** 2)
    errors = _weight_error(mtregression, "gradnorm", 150)
    assert np.mean(errors[-50:]) < 0.5 * uniform


def test_slaw_gets_close_to_the_ideal_weights(mtregression):
    uniform = np.mean((1 - np.asarray(mtregression.meta["ideal_weights"])) ** 2)
    errors = _weight_error(mtregression, "slaw", 100)
    assert np.mean(errors[-20:]) < 0.05 * uniform


def test_split_seed_keeps_one_split_across_seeds(tox21):
    def rows(**seeds):
        split = train_module.make_split(tox21, TINY.replace(**seeds))
        return np.concatenate([split.train, split.valid, split.test])

    assert np.array_equal(rows(seed=1, split_seed=0), rows(seed=2, split_seed=0))
    assert not np.array_equal(rows(seed=1), rows(seed=2))


def test_a_final_batch_of_one_row_joins_the_one_before():
    from mtlperf.data.batches import training_batches

    assert [b.tolist() for b in training_batches(np.arange(7), 3)] == [[0, 1, 2], [3, 4, 5, 6]]
    assert [b.tolist() for b in training_batches(np.arange(6), 3)] == [[0, 1, 2], [3, 4, 5]]
    assert [b.size for b in training_batches(np.arange(5), 3)] == [3, 2]


def test_batch_norm_trains_when_the_split_leaves_one_row_over(tox21):
    config = PRESETS["lbtw"].replace(hidden=(16, 8), epochs=1, max_rows=300, seed=3, device="cpu")
    n_train = make_split(tox21, config).train.size
    result = train(tox21, "constant", config.replace(batch_size=n_train - 1), progress=False)
    assert np.isfinite(result["test"]["mean_roc_auc"])


def test_non_finite_validation_predictions_are_a_divergence_not_bad_input(tox21, monkeypatch):
    real = train_module.predict

    def poisoned(*args, **kwargs):
        predictions = real(*args, **kwargs)
        predictions[:, 2] = math.nan
        return predictions

    monkeypatch.setattr(train_module, "predict", poisoned)
    with pytest.raises(TrainingDiverged, match=rf"'{tox21.task_names[2]}'.*validation predictions after epoch 1"):
        train(tox21, "constant", TINY, progress=False)


def test_a_learning_rate_too_large_for_float32_is_a_divergence(tox21):
    with pytest.raises(TrainingDiverged, match="overflowed at step 1"):
        train(tox21, "constant", TINY.replace(lr=1e300), progress=False)


def test_a_preset_made_for_regression_trains_one_output_per_molecule_task(tox21):
    config = PRESETS["slaw-mtregression"].replace(epochs=1, max_rows=300, device="cpu")
    assert np.isfinite(train(tox21, "constant", config, progress=False)["test"]["mean_roc_auc"])


@pytest.mark.parametrize("reduction", ["labelled", "batch"])
def test_training_set_losses_are_the_whole_sets_loss_whatever_the_batch_size(tox21, reduction):
    config = TINY.replace(reduction=reduction)
    batches = train_module.Batches(tox21, torch.device("cpu"))
    model = new_model(tox21, 3, config, torch.device("cpu"))
    rows = np.arange(1000)
    loss = train_module._loss_function(tox21, config, None)
    whole = train_module.training_set_losses(model, batches, rows, [0, 1, 2], loss, config.replace(batch_size=1000))
    batched = train_module.training_set_losses(model, batches, rows, [0, 1, 2], loss, config.replace(batch_size=64))
    torch.testing.assert_close(batched, whole)
    assert model.training, "the pass leaves the model in training mode"


@pytest.mark.parametrize("spec", ["lbtw:l0=training-set", "dwa:mode=ratio"])
def test_methods_asking_for_training_set_losses_get_them_at_every_epoch_start(tox21, spec, monkeypatch):
    given = []
    original = train_module.training_set_losses
    monkeypatch.setattr(train_module, "training_set_losses", lambda *args: given.append(original(*args)) or given[-1])
    result = train(tox21, spec, TINY.replace(epochs=3), progress=False)
    _finite_metrics(result, 3)
    assert len(given) == 3 and all(losses.shape == (3,) and bool((losses > 0).all()) for losses in given)
    assert not torch.equal(given[0], given[2]), "each epoch's pass sees the network trained so far"
    given.clear()
    train(tox21, "lbtw", TINY, progress=False)
    assert not given, "a method that does not ask pays for no extra pass"


@pytest.fixture(scope="module")
def tox21_graphs():
    return load_dataset("tox21", n_tasks=3, features="graphs")


GIN_TINY = TINY.replace(model="gin", hidden=(16, 16), max_rows=300, batch_size=64, lr=1e-3)


@pytest.mark.parametrize("spec", [*list_methods(), *STRATEGIES])
def test_every_method_and_strategy_trains_the_gin_model_on_molecular_graphs(tox21_graphs, spec):
    result = train(tox21_graphs, _runnable(spec, 3), GIN_TINY, progress=False)
    _finite_metrics(result, 3)
    assert result["config"]["model"] == "gin"


def test_gin_training_repeats_exactly_with_the_same_seed(tox21_graphs):
    first, again = (train(tox21_graphs, "gradnorm", GIN_TINY, progress=False) for _ in range(2))
    assert first["test"] == again["test"] and first["history"] == again["history"]
    other = train(tox21_graphs, "gradnorm", GIN_TINY.replace(seed=4), progress=False)
    assert other["test"] != first["test"]


def test_the_gin_model_refuses_fingerprints_and_other_widths(tox21, tox21_graphs):
    with pytest.raises(ValueError, match="only the models gin, sgnn, sgnn-ebm read them"):
        train(tox21_graphs, "constant", TINY, progress=False)
    with pytest.raises(ValueError, match="gin reads molecular graphs"):
        train(tox21, "constant", GIN_TINY, progress=False)
    with pytest.raises(ValueError, match="all equal"):
        new_model(tox21_graphs, 3, GIN_TINY.replace(hidden=(16, 8)), torch.device("cpu"))


def test_a_config_read_back_from_json_is_the_same_config():
    import json

    config = TrainConfig(hidden=(16, 8), state_hidden=(32, 16))
    assert TrainConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
