"""Step-time benchmarks (pytest-benchmark) over method x task count, through mtlperf.cases.

An ordinary ``pytest`` run skips the timings (``--benchmark-skip`` in pyproject) and runs only
the cheap correctness check at the end. To time, grouped by task count:

    pytest tests/test_benchmarks.py --benchmark-only --benchmark-group-by=param:n_tasks
    pytest tests/test_benchmarks.py --benchmark-only -k "32tasks and (constant or pcgrad)"   # a slice

The matrix comes from :mod:`benchmarks.matrix` (``MTLPERF_BENCH_DEVICE``, ``_BATCH``,
``_TASKS``, ``_METHODS``); ``MTLPERF_BENCH_ROUNDS`` sets the builds per case, each timed for one
step after ``WARMUP`` untimed ones (default 30).
"""

from __future__ import annotations

import os

import pytest
import torch

from benchmarks import matrix as bench
from mtlperf.cases import make_case
from mtlperf.device import synchronize

ROUNDS = int(os.environ.get("MTLPERF_BENCH_ROUNDS", "30"))  # A/A runs at 10 and at 30: results/benchmark-aa
WARMUP = 2


def method_id(spec: str) -> str:
    return spec.replace(":implementation=", "-")  # -k friendly: gradnorm-loop


@pytest.mark.parametrize("n_tasks", bench.tasks(), ids=lambda n: f"{n}tasks")
@pytest.mark.parametrize("method", bench.methods(), ids=method_id)
def test_step_time(benchmark, method, n_tasks):
    """Every round times one step of a new build: one build can run 20-45% off another for its whole life."""
    device = bench.device()
    built = []

    def build():
        built.clear()  # one build alive: keeping them all slowed identical code (results/benchmark-aa)
        built.append(make_case(method, n_tasks, bench.batch_size(device.type), device, seed=0))
        for _ in range(WARMUP):
            built[-1].run()
        synchronize(device)

    def step():
        built[-1].run()
        synchronize(device)  # the benchmark's clock is read when this returns

    benchmark.group = f"{n_tasks} tasks"
    benchmark.pedantic(step, setup=build, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(built[-1].info())


@pytest.mark.parametrize("method", bench.METHODS, ids=method_id)
def test_every_benchmarked_method_takes_a_finite_training_step(method):
    case = make_case(method, n_tasks=4, batch_size=16, device="cpu", seed=0)
    before = [p.detach().clone() for p in case.model.parameters()]
    losses = case.run()
    assert losses.shape == (4,) and torch.isfinite(losses).all()
    changed = [not torch.equal(b, p) for b, p in zip(before, case.model.parameters())]
    assert all(changed), f"{method}: {changed.count(False)} parameter tensors did not move"
    if "implementation=" in method:  # the spec's choice reaches the method and the record
        assert case.info()["implementation"] == method.split("implementation=")[1]


def test_asv_accuracy_tracks_read_the_sweep_and_refuse_a_failed_run():
    from benchmarks.bench_accuracy import Accuracy

    ok = {"status": "ok", "mean_pr_auc": {"mean": 0.31}, "pooled_pr_auc": {"mean": 0.42}}
    results = {("slaw", 32): ok, ("pcgrad", 32): {"status": "failed: diverged"}}
    suite = Accuracy()
    assert suite.track_mean_pr_auc(results, "slaw", 32) == 0.31
    assert suite.track_pooled_ap(results, "slaw", 32) == 0.42
    with pytest.raises(RuntimeError, match="pcgrad at 32 tasks did not train"):
        suite.track_mean_pr_auc(results, "pcgrad", 32)


def test_the_asv_grid_is_the_same_whatever_the_selection_variables(monkeypatch):
    import importlib

    import benchmarks.bench_accuracy
    import benchmarks.bench_ratio
    import benchmarks.bench_step

    modules = (benchmarks.bench_step, benchmarks.bench_ratio, benchmarks.bench_accuracy)
    suites = ("StepCPU", "RatioCPU", "Accuracy")
    before = tuple(getattr(module, suite).params for module, suite in zip(modules, suites))
    monkeypatch.setenv("MTLPERF_BENCH_METHODS", "constant")
    monkeypatch.setenv("MTLPERF_BENCH_TASKS", "32")
    after = [importlib.reload(module) for module in modules]
    assert tuple(getattr(module, suite).params for module, suite in zip(after, suites)) == before
    assert before[0] == before[1] == (list(bench.METHODS), list(bench.TASKS))


@pytest.mark.parametrize(
    "variable, value, named",
    [
        ("MTLPERF_BENCH_METHODS", "constant;pcgard", "pcgard"),
        ("MTLPERF_BENCH_TASKS", "32,48", "48"),
        ("MTLPERF_BENCH_TASKS", "many", "nothing"),
    ],
)
def test_a_selection_outside_the_grid_is_an_error_naming_the_valid_values(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable}=.*{named}.*valid: "):
        bench.methods() if variable.endswith("METHODS") else bench.tasks()


@pytest.mark.parametrize("module, suite", [("bench_step", "StepCPU"), ("bench_ratio", "RatioCPU")])
def test_asv_setup_skips_what_is_not_selected_and_refuses_a_changed_batch(monkeypatch, module, suite):
    import importlib

    Suite = getattr(importlib.import_module(f"benchmarks.{module}"), suite)
    monkeypatch.setenv("MTLPERF_BENCH_DEVICE", "cpu")
    monkeypatch.setenv("MTLPERF_BENCH_METHODS", "lbtw")
    with pytest.raises(NotImplementedError, match="not selected"):
        Suite().setup("constant", 32)
    monkeypatch.setenv("MTLPERF_BENCH_BATCH", "32")
    with pytest.raises(RuntimeError, match="MTLPERF_BENCH_BATCH"):
        Suite().setup("lbtw", 32)


def test_a_cpu_only_torch_defines_no_cuda_suite():
    import benchmarks.bench_ratio
    import benchmarks.bench_step

    if torch.version.cuda or torch.version.hip:
        pytest.skip("this torch is built with CUDA")
    assert not hasattr(benchmarks.bench_step, "StepCUDA") and not hasattr(benchmarks.bench_ratio, "RatioCUDA")
