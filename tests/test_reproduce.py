"""Study sweeps: every output file with its schema, resuming, and failures recorded beside kept results."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import mtlperf.reproduce as reproduce
import mtlperf.sweep as sweep
from mtlperf.data import load_dataset
from mtlperf.data.mtregression import ideal_weights
from mtlperf.metrics import loss_weight_error
from mtlperf.reproduce import (
    LBTW_SPECS,
    MTREGRESSION_SPECS,
    mtregression_claims,
    reproduce_lbtw,
    reproduce_mtregression,
    steps_to_settle,
)
from mtlperf.sweep import run_file_stem
from mtlperf.train import TrainingDiverged

TINY = dict(epochs=1, device="cpu", progress=False, hidden=(32, 16), batch_size=256, max_rows=900)
TOX21_TASKS = 3
MTR_STEPS = 60


pytestmark = pytest.mark.usefixtures("one_thread")


_LOADED = {}


@pytest.fixture(autouse=True)
def load_once(monkeypatch):
    """Each data set is read once per session: the sweeps reload it on every call."""

    def load(name, n_tasks=None, **options):
        key = (name, n_tasks, tuple(sorted(options.items())))
        if key not in _LOADED:
            _LOADED[key] = load_dataset(name, n_tasks, **options)
        return _LOADED[key]

    monkeypatch.setattr(reproduce, "load_dataset", load)


@pytest.fixture(scope="module")
def lbtw_dir(tmp_path_factory):
    """One real, tiny LBTW sweep (Tox21, 3 tasks, 1 epoch, 1 seed), shared by the tests that read it."""
    out = tmp_path_factory.mktemp("lbtw")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = reproduce_lbtw("tox21", TOX21_TASKS, 1, out, **TINY)
    finally:
        torch.set_num_threads(threads)
    return out, summary


@pytest.fixture(scope="module")
def mtr_dir(tmp_path_factory):
    """One real, short MTRegression sweep of all seven methods."""
    out = tmp_path_factory.mktemp("mtregression")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = reproduce_mtregression(1, out, steps=MTR_STEPS, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    return out, summary


def fake_train(calls: list, fail: dict | None = None):
    """A stand-in for ``train``: records (spec, seed), raises ``fail[spec]``, else returns fixed scores."""

    def run(dataset, spec, config, progress=True):
        calls.append((spec, config.seed))
        if fail and spec in fail:
            raise fail[spec]
        rng = np.random.default_rng(len(spec) + config.seed)
        return {
            "method": spec,
            "seed": config.seed,
            "test": {
                metric: {task: float(rng.uniform(0.1, 0.9)) for task in dataset.task_names}
                for metric in ("pr_auc", "roc_auc")
            },
        }

    return run


# --- LBTW -------------------------------------------------------------------------------------


def test_lbtw_writes_every_file_with_the_table1_schema(lbtw_dir):
    out, summary = lbtw_dir
    for name in ("table1.md", "table1.json", "per_task.csv", "figure1.png", "figure_s1.png"):
        assert (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        f"{run_file_stem(s)}__seed0.json" for s in LBTW_SPECS
    )
    table = json.loads((out / "table1.json").read_text())
    assert table["methods"].keys() == set(LBTW_SPECS) and table["n_tasks"] == TOX21_TASKS
    assert table["compared_with_paper"] is False and table["dataset"] == "tox21"
    for spec, row in table["methods"].items():
        assert row["status"] == "ok" and row["n_runs"] == 1
        for metric in ("pr_auc", "roc_auc"):
            assert 0 < row[f"mean_{metric}"] <= 1
            if spec == "stl":
                assert row[f"nt_{metric}"] is None
            else:
                assert 0 <= row[f"nt_{metric}"] <= TOX21_TASKS
    markdown = (out / "table1.md").read_text()
    assert all(f"`{spec}`" in markdown for spec in LBTW_SPECS) and "failed" not in markdown


def test_per_task_csv_has_a_row_per_task_and_agrees_with_the_runs_and_table(lbtw_dir):
    out, summary = lbtw_dir
    per_task = pd.read_csv(out / "per_task.csv", index_col="task")
    runs = {spec: json.loads((out / "runs" / f"{run_file_stem(spec)}__seed0.json").read_text()) for spec in LBTW_SPECS}
    tasks = runs["stl"]["result"]["task_names"]
    assert list(per_task.index) == tasks and len(tasks) == TOX21_TASKS
    assert set(per_task.columns) == {f"{m}/{s}" for m in ("pr_auc", "roc_auc") for s in LBTW_SPECS}
    for spec, record in runs.items():
        for task in tasks:
            assert per_task.loc[task, f"pr_auc/{spec}"] == pytest.approx(record["result"]["test"]["pr_auc"][task])
        row = summary["methods"][spec]
        assert row["mean_roc_auc"] == pytest.approx(per_task[f"roc_auc/{spec}"].mean())
        if spec != "stl":
            assert row["nt_pr_auc"] == int((per_task[f"pr_auc/{spec}"] < per_task["pr_auc/stl"]).sum())


def test_a_rerun_resumes_and_only_trains_what_is_missing(lbtw_dir, monkeypatch):
    out, summary = lbtw_dir
    calls = []
    real_train = sweep.train
    monkeypatch.setattr(sweep, "train", lambda *a, **k: calls.append(a[1]) or real_train(*a, **k))
    again = reproduce_lbtw("tox21", TOX21_TASKS, 1, out, **TINY)
    assert calls == [] and again["methods"] == summary["methods"]
    (out / "runs" / "constant__seed0.json").unlink()
    assert reproduce_lbtw("tox21", TOX21_TASKS, 1, out, **TINY)["methods"]["constant"] == summary["methods"]["constant"]
    assert calls == ["constant"]  # same seed, same device: the same numbers


def test_changed_settings_train_again_and_an_interrupted_sweep_resumes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep, "train", fake_train(calls, {"rmtl-per-task": KeyboardInterrupt()}))
    with pytest.raises(KeyboardInterrupt):  # an interrupt is not a method failure: the sweep stops
        reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, **TINY)
    done = [spec for spec, _ in calls[:-1]]
    assert done == list(LBTW_SPECS[: LBTW_SPECS.index("rmtl-per-task")])
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        f"{run_file_stem(s)}__seed0.json" for s in done
    )
    calls.clear()
    monkeypatch.setattr(sweep, "train", fake_train(calls))
    reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, **TINY)
    assert [spec for spec, _ in calls] == list(LBTW_SPECS[len(done) :])
    calls.clear()
    reproduce_lbtw("tox21", TOX21_TASKS, 2, tmp_path, **TINY)  # a second seed: only its runs are new
    assert calls == [(spec, 124) for spec in LBTW_SPECS]
    calls.clear()
    reproduce_lbtw(
        "tox21", TOX21_TASKS, 1, tmp_path, **{**TINY, "device": "auto" if not torch.cuda.is_available() else "cpu"}
    )
    assert calls == []  # "auto" names the device it resolves to
    reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, **{**TINY, "epochs": 2})
    assert len(calls) == len(LBTW_SPECS)


def test_a_failing_method_is_recorded_and_the_others_are_kept(tmp_path, monkeypatch):
    calls = []
    reason = "task 'NR-AR' has a non-finite loss (nan) at step 3 (epoch 1)"
    fail = {"gradnorm:alpha=0.5": TrainingDiverged(reason), "lbtw:alpha=0.1": RuntimeError("out of memory")}
    monkeypatch.setattr(sweep, "train", fake_train(calls, fail))
    summary = reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, **TINY)
    methods = json.loads((tmp_path / "table1.json").read_text())["methods"]
    assert methods["gradnorm:alpha=0.5"]["status"] == f"failed: diverged: {reason}"
    assert methods["lbtw:alpha=0.1"]["status"] == "failed: RuntimeError: out of memory"
    assert methods["gradnorm:alpha=0.5"]["mean_pr_auc"] is None and summary["methods"] == methods
    kept = [spec for spec in LBTW_SPECS if spec not in fail]
    assert all(methods[spec]["status"] == "ok" and methods[spec]["mean_pr_auc"] > 0 for spec in kept)
    markdown = (tmp_path / "table1.md").read_text()
    assert f"`gradnorm:alpha=0.5`: failed: diverged: {reason}" in markdown
    assert "`lbtw:alpha=0.1`: failed: RuntimeError: out of memory" in markdown
    assert set(pd.read_csv(tmp_path / "per_task.csv", index_col="task").columns) == {
        f"{m}/{s}" for m in ("pr_auc", "roc_auc") for s in kept
    }
    assert (tmp_path / "figure1.png").is_file()
    calls.clear()  # failures are results too: a rerun keeps them unless asked to retry
    reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, **TINY)
    assert calls == []
    reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, retry_failed=True, **TINY)
    assert sorted(spec for spec, _ in calls) == sorted(fail)


def test_without_stl_there_is_no_negative_transfer_and_no_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "train", fake_train([], {"stl": TrainingDiverged("task 'NR-AR' ...")}))
    summary = reproduce_lbtw("tox21", TOX21_TASKS, 1, tmp_path, **TINY)
    assert summary["methods"]["constant"]["nt_pr_auc"] is None and summary["files"]["figure1"] is None
    assert not (tmp_path / "figure1.png").exists() and "figures not drawn" in (tmp_path / "table1.md").read_text()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda out: reproduce_lbtw("tox21", 3, 0, out), "seeds must be a positive integer"),
        (lambda out: reproduce_lbtw("tox21", 3, 1, out, methods=["nope"]), "unknown method 'nope'"),
        (lambda out: reproduce_lbtw("tox21", 3, 1, out, methods="stl"), "non-empty list of distinct"),
        (lambda out: reproduce_lbtw("tox21", 3, 1, out, learning_rate=1.0), "unknown training option"),
        (lambda out: reproduce_lbtw("mtregression", None, 1, out), "needs a classification"),
        (lambda out: reproduce_mtregression(1, out, steps=0), "steps must be a positive integer"),
        (lambda out: reproduce_mtregression(1, out, device="tpu"), "unknown device"),
    ],
)
def test_bad_input_is_a_clear_value_error_before_any_training(tmp_path, monkeypatch, call, message):
    calls = []
    monkeypatch.setattr(sweep, "train", fake_train(calls))
    with pytest.raises(ValueError, match=message):
        call(tmp_path)
    assert calls == []


def test_pcba_without_the_file_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLPERF_CACHE", str(tmp_path))
    monkeypatch.delenv(reproduce.PCBA_ENV, raising=False)
    assert reproduce.pcba_file() is None
    with pytest.raises(ValueError, match="mtlperf data fetch pcba"):
        reproduce_lbtw("pcba", None, 1, tmp_path)
    (tmp_path / "pcba.csv.gz").touch()  # found in the cache dir, or wherever $MTLPERF_PCBA says
    assert reproduce.pcba_file() == tmp_path / "pcba.csv.gz"
    monkeypatch.setenv(reproduce.PCBA_ENV, str(tmp_path / "elsewhere.csv.gz"))
    assert reproduce.pcba_file() is None
    (tmp_path / "elsewhere.csv.gz").touch()
    assert reproduce.pcba_file() == tmp_path / "elsewhere.csv.gz"


# --- MTRegression -----------------------------------------------------------------------------


def test_mtregression_writes_the_figure_table_and_json_schema(mtr_dir):
    out, summary = mtr_dir
    assert (out / "loss_weight_error.png").stat().st_size > 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        f"{run_file_stem(s)}__seed0.json" for s in MTREGRESSION_SPECS
    )
    data = json.loads((out / "mtregression.json").read_text())
    assert list(data["methods"]) == list(MTREGRESSION_SPECS) and data["steps"] == MTR_STEPS
    for spec, row in data["methods"].items():
        assert row["status"] == "ok", row["status"]
        for key in ("train_normalized_loss", "test_normalized_loss"):
            assert row[key]["mean"] > 0 and row[key]["std"] == 0  # one seed
        if spec == "pcgrad":  # no loss weights
            assert row["loss_weight_error"] is None and row["final_loss_weight_error"] is None
            assert row["steps_to_settle"] is None
            continue
        assert len(row["loss_weight_error"]) == MTR_STEPS
        assert row["final_loss_weight_error"] == row["loss_weight_error"][-1]
        assert 0 <= row["steps_to_settle"] < MTR_STEPS
    constant_error = loss_weight_error(np.ones(10), ideal_weights(np.arange(1, 11)))
    assert data["methods"]["constant"]["final_loss_weight_error"] == pytest.approx(constant_error)
    assert data["methods"]["ideal-constant"]["final_loss_weight_error"] == pytest.approx(0, abs=1e-12)
    assert set(data["claims"]) >= {
        "slaw_error_10x_below_constant",
        "slaw_settles_before_gradnorm",
        "slaw_test_loss_within_10pct_of_ideal",
    }
    markdown = (out / "table1.md").read_text()
    assert all(f"`{spec}`" in markdown for spec in MTREGRESSION_SPECS) and "±" in markdown


def test_mtregression_rerun_trains_nothing_and_records_a_diverged_method(mtr_dir, tmp_path, monkeypatch):
    out, summary = mtr_dir
    calls = []
    monkeypatch.setattr(sweep, "train", fake_train(calls))
    assert (
        reproduce_mtregression(1, out, steps=MTR_STEPS, device="cpu", progress=False)["methods"] == summary["methods"]
    )
    assert calls == []
    for run in (out / "runs").iterdir():  # the others' results, copied into a new study
        (tmp_path / "runs").mkdir(exist_ok=True)
        if run.name != "slaw__seed0.json":
            (tmp_path / "runs" / run.name).write_text(run.read_text())
    reason = "task 'task3' has a non-finite loss (inf) at step 41 (epoch 2)"
    monkeypatch.setattr(sweep, "train", fake_train(calls, {"slaw": TrainingDiverged(reason)}))
    again = reproduce_mtregression(1, tmp_path, steps=MTR_STEPS, device="cpu", progress=False)
    assert calls == [("slaw", 0)]
    row = again["methods"]["slaw"]
    assert row["status"] == f"failed: diverged: {reason}" and row["loss_weight_error"] is None
    assert again["methods"]["constant"] == summary["methods"]["constant"]
    assert f"failed: diverged: {reason}" in (tmp_path / "table1.md").read_text()


def test_steps_to_settle_is_the_step_after_which_the_curve_stays_within_10_percent_of_its_change():
    assert steps_to_settle([10.0, 5.0, 2.0, 1.05, 0.95, 1.0]) == 3  # the band: 10% of the drop, 0.9
    assert steps_to_settle([10.0, 5.0, 2.0, 1.05, 0.95, 1.0], log_every=10) == 30
    assert steps_to_settle([10.0, 20.0, 15.0, 10.0, 10.0]) == 3  # no net change: only the last value is in
    assert steps_to_settle([10.0, 20.0, 15.0, 11.9, 12.0]) == 3  # change 2: within 0.2 of 12 from step 3
    # an error that ends near 0 settles when it stays within 10% of its drop, not of its final value
    assert steps_to_settle([3.5, 0.5, 0.0002, 0.0001, 0.0009, 0.0003]) == 2
    assert steps_to_settle([3.5, 0.5, 0.34, 0.0009]) == 2
    assert steps_to_settle([3.5, 3.5, 3.5]) == 0


def test_claims_compare_the_papers_numbers_and_say_none_when_a_method_is_missing():
    def row(error, steps, test_loss):
        return {
            "final_loss_weight_error": error,
            "steps_to_settle": steps,
            "test_normalized_loss": {"mean": test_loss, "std": 0.0},
        }

    summary = {
        "methods": {
            "constant": row(3.5, 0, 1.3),
            "dwa": row(3.4, 500, 1.2),
            "gradnorm": row(0.5, 800, 1.1),
            "slaw": row(0.01, 200, 1.04),
            "ideal-constant": row(0.0, 0, 1.0),
        }
    }
    claims = mtregression_claims(summary)
    assert claims["slaw_error_10x_below_constant"] == {"holds": True, "value": pytest.approx(0.01 / 3.5)}
    assert claims["gradnorm_error_10x_below_dwa"]["holds"] is False
    assert claims["slaw_settles_before_gradnorm"] == {"holds": True, "value": pytest.approx(0.25)}
    assert claims["slaw_test_loss_within_10pct_of_ideal"]["holds"] is True
    assert claims["slaw_lowest_test_loss_non_oracle"]["holds"] is True
    assert claims["slaw_lowest_error_non_oracle"] == {"holds": True, "value": pytest.approx(0.01 / 0.5)}
    summary["methods"]["uncertainty"] = row(0.001, 300, 1.05)  # better weights than SLAW's: the claim fails
    assert mtregression_claims(summary)["slaw_lowest_error_non_oracle"]["holds"] is False
    del summary["methods"]["gradnorm"]
    assert mtregression_claims(summary)["slaw_settles_before_gradnorm"] == {"holds": None, "value": None}
    assert math.isclose(mtregression_claims(summary)["slaw_lowest_test_loss_non_oracle"]["value"], 1.04 / 1.05)
