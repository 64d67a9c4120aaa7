"""Sweeps on a real Dask LocalCluster (2 worker processes on the loopback interface): same files, nothing lost."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402 - a dependency of distributed

from mtlperf.cluster import check_cluster_options, sweep_client  # noqa: E402
from mtlperf.config import PRESETS  # noqa: E402
from mtlperf.data import load_dataset  # noqa: E402
from mtlperf.io import read_json  # noqa: E402
from mtlperf.sweep import Job, run_jobs, run_sweep, seed_configs  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module

CONFIG = PRESETS["short"].replace(epochs=2, hidden=(32,), device="cpu")


@pytest.fixture(scope="module")
def client():
    with sweep_client(workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def small():
    return load_dataset("synthetic-pcba", n_tasks=4, n_molecules=600, n_bits=256, seed=0)


def _metrics(runs):
    return {(spec, r["seed_index"]): r["result"]["test"] for spec, records in runs.items() for r in records}


def test_a_sweep_on_two_workers_writes_the_serial_sweeps_numbers_bit_for_bit(client, small, tmp_path, one_thread):
    specs, configs = ["constant", "lbtw", "gradnorm", "stl"], seed_configs(CONFIG, 2)
    serial = run_sweep(small, specs, configs, tmp_path / "serial", progress=False)
    spread = run_sweep(small, specs, configs, tmp_path / "cluster", progress=False, client=client)
    assert _metrics(serial) == _metrics(spread)
    workers = {r["ran_on"]["worker"] for records in spread.values() for r in records}
    assert None not in workers and all(r["ran_on"]["threads"] == 1 for rs in spread.values() for r in rs)
    assert sorted(p.name for p in (tmp_path / "cluster").iterdir()) == sorted(
        p.name for p in (tmp_path / "serial").iterdir()
    )


def _fails():
    raise RuntimeError("this run breaks")


def _value(x):
    return {"value": x}


def _never():
    raise AssertionError("a finished run was trained again")


def test_a_failing_run_is_recorded_and_the_others_finish(client, tmp_path):
    jobs = [
        Job("good", 0, {"k": 0}, lambda: _value(1)),
        Job("bad", 0, {"k": 1}, _fails),
        Job("good", 1, {"k": 2}, lambda: _value(2)),
    ]
    runs = run_jobs(jobs, tmp_path, desc="t", progress=False, client=client)
    assert [r["result"] for r in runs["good"]] == [{"value": 1}, {"value": 2}]
    assert runs["bad"][0]["status"] == "failed" and "this run breaks" in runs["bad"][0]["reason"]


def test_a_rerun_on_the_cluster_trains_only_what_is_missing(client, tmp_path):
    run_jobs([Job("a", 0, {"k": 0}, lambda: _value(1))], tmp_path, desc="t", progress=False, client=client)
    again = run_jobs(
        [Job("a", 0, {"k": 0}, _never), Job("b", 0, {"k": 1}, lambda: _value(2))],
        tmp_path,
        desc="t",
        progress=False,
        client=client,
    )
    assert again["a"][0]["result"] == {"value": 1} and again["b"][0]["result"] == {"value": 2}


def _slow(seconds, x):
    time.sleep(seconds)
    return {"value": x}


def test_a_worker_killed_mid_run_has_its_run_retried_and_the_sweep_completes(tmp_path):
    with sweep_client(workers=2) as client:
        pids, killed = client.run(os.getpid), []

        def kill_a_busy_worker():
            deadline = time.time() + 20
            while time.time() < deadline:
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    killed.append(pids[busy[0]])
                    os.kill(killed[0], signal.SIGKILL)
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        jobs = [Job(f"r{k}", 0, {"k": k}, lambda k=k: _slow(2.0, k)) for k in range(2)]
        runs = run_jobs(jobs, tmp_path, desc="t", progress=False, client=client)
        killer.join()
    assert killed and [runs[f"r{k}"][0]["result"] for k in range(2)] == [{"value": 0}, {"value": 1}]
    assert killed[0] not in {r[0]["ran_on"]["process"] for r in runs.values()}  # its run finished elsewhere


@pytest.mark.parametrize(
    "workers, scheduler, message",
    [(2, "tcp://h:1", "give one of them"), (0, None, "positive integer"), (None, " ", "an address")],
)
def test_bad_cluster_options_are_one_line_errors(workers, scheduler, message):
    with pytest.raises(ValueError, match=message):
        check_cluster_options(workers, scheduler)


def test_without_dask_a_cluster_option_names_the_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "distributed" else real(name))
    with pytest.raises(ValueError, match=r"mtlperf\[distributed\]"):
        check_cluster_options(2, None)
    check_cluster_options(None, None)  # serial needs nothing


def test_the_accuracy_command_runs_on_a_local_cluster_with_the_serial_numbers(tmp_path, one_thread):
    from mtlperf.cli import main

    def accuracy(out, *cluster):
        args = ["accuracy", "--dataset", "tox21", "--tasks", "3", "--seeds", "1", "--preset", "short", "--epochs", "1"]
        assert main([*args, "--methods", "constant;lbtw", "--out", str(out), "--quiet", *cluster]) == 0
        return {(r["method"], r["n_tasks"]): r["mean_pr_auc"] for r in read_json(out / "accuracy.json")["results"]}

    assert accuracy(tmp_path / "cluster", "--workers", "2") == accuracy(tmp_path / "serial")


@pytest.mark.parametrize(
    "args, message",
    [
        (["scaling", "--methods", "lbtw", "--tasks", "32", "--workers", "2", "--out", "x"], "no --workers"),
        (["reproduce", "lbtw", "--dataset", "tox21", "--workers", "0", "--out", "x"], "--workers"),
        (["accuracy", "--dataset", "tox21", "--workers", "2", "--scheduler", "tcp://h:1", "--out", "x"], "not allowed"),
    ],
)
def test_cluster_options_are_checked_before_anything_runs(args, message, capsys, tmp_path, monkeypatch):
    from mtlperf.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        code = main(args)
        raise SystemExit(code)
    assert exit_.value.code == 2 and message in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_two_processes_writing_the_same_cache_entry_leave_a_whole_file(tmp_path):
    import subprocess

    import numpy as np

    path = tmp_path / "entry.npz"
    writer = (
        "import numpy as np, sys; from mtlperf.data.cache import atomic_save_npz\n"
        "for k in range(30): atomic_save_npz(sys.argv[1], x=np.full(200_000, int(sys.argv[2])))"
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, str(path), str(v)]) for v in (1, 2)]
    assert [p.wait() for p in processes] == [0, 0]
    x = np.load(path)["x"]
    assert x.shape == (200_000,) and len(set(x.tolist())) == 1 and list(tmp_path.iterdir()) == [path]


def test_the_accuracy_command_runs_on_an_existing_cluster_by_its_scheduler_address(tmp_path, one_thread):
    from mtlperf.cli import main

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        args = ["accuracy", "--dataset", "tox21", "--tasks", "3", "--seeds", "1", "--preset", "short", "--epochs", "1"]
        args += ["--methods", "constant", "--out", str(tmp_path), "--quiet", "--scheduler", cluster.scheduler_address]
        assert main(args) == 0
    run = read_json(tmp_path / "runs" / "3tasks" / "constant__seed0.json")
    assert run["status"] == "ok" and run["ran_on"]["worker"] is not None
