"""The command line: help everywhere, method listing, train output, one-line errors, dispatch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import mtlperf.cli
from mtlperf.cli import main
from mtlperf.data import FetchError
from mtlperf.gate import Comparison
from mtlperf.methods import list_methods, method_class
from mtlperf.train import STRATEGIES

TINY_TRAIN = [
    "train",
    "--dataset",
    "tox21",
    "--tasks",
    "3",
    "--hidden",
    "32,16",
    "--epochs",
    "1",
    "--batch-size",
    "256",
    "--max-rows",
    "1000",
    "--device",
    "cpu",
    "--quiet",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _run(argv, capsys):
    """(exit code, stdout, stderr) of ``mtlperf argv`` run in this process."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv",
    [[], ["methods"], ["train"], ["data"], ["data", "fetch"], ["scaling"], ["gate"]],
)
def test_every_command_has_help(argv, capsys):
    code, out, _ = _run([*argv, "--help"], capsys)
    assert code == 0
    assert out.startswith("usage: mtlperf")


def test_methods_lists_every_method_with_its_defaults_and_the_strategies(capsys):
    code, out, _ = _run(["methods"], capsys)
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert code == 0
    assert set(lines) == {*list_methods(), *STRATEGIES}
    for name in list_methods():
        cls = method_class(name)
        assert cls.needs in lines[name]
        for key, default in cls.defaults.items():
            assert f"{key}={default}" in lines[name]


def test_train_prints_the_table_and_writes_the_result_json(tmp_path, capsys):
    out_file = tmp_path / "run" / "result.json"
    code, out, _ = _run([*TINY_TRAIN, "--method", "lbtw:alpha=0.5", "--out", str(out_file)], capsys)
    assert code == 0
    result = json.loads(out_file.read_text())
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
    assert result["method"] == "lbtw:alpha=0.5" and result["n_tasks"] == 3 and result["device"] == "cpu"
    assert result["config"]["hidden"] == [32, 16] and result["config"]["epochs"] == 1
    assert set(result["test"]["pr_auc"]) == set(result["task_names"])
    for task in result["task_names"]:
        assert task in out
    assert f"{result['test']['mean_pr_auc']:.3f}" in out.split("mean")[-1]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--method", "nosuch"], "valid: "),
        (["--method", "lbtw:nosuch=1"], "valid: alpha"),
        (["--method", "lbtw:alpha=high"], "alpha"),
        (["--device", "tpu"], "cpu"),
        (["--epochs", "0"], "epochs"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, expected, capsys):
    code, _, err = _run([*TINY_TRAIN, *argv], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and expected in err
    assert "Traceback" not in err


def test_unknown_dataset_in_a_real_process_has_no_traceback():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mtlperf.cli", "train", "--dataset", "nosuch"],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "tox21" in done.stderr and "Traceback" not in done.stderr


def test_cuda_without_cuda_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    code, _, err = _run([*TINY_TRAIN, "--device", "cuda"], capsys)
    assert code == 2 and "CUDA is not available" in err


def test_scaling_takes_specs_with_commas(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(mtlperf.cli, "run_scaling", lambda **kwargs: calls.append(kwargs) or {})
    code, _, _ = _run(
        [
            "scaling",
            "--method",
            "gradnorm:alpha=0.5,implementation=loop",
            "--methods",
            "constant;pcgrad",
            "--tasks",
            "32,64",
            "--batch-size",
            "8",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--repeats",
            "3",
            "--device",
            "cpu",
            "--seed",
            "5",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
        capsys,
    )
    assert code == 0
    assert calls == [
        dict(
            methods=["gradnorm:alpha=0.5,implementation=loop", "constant", "pcgrad"],
            tasks=[32, 64],
            batch_size=8,
            steps=2,
            warmup=1,
            repeats=3,
            device="cpu",
            out_dir=str(tmp_path),
            seed=5,
            progress=False,
            accuracy=None,
        )
    ]


@pytest.mark.parametrize("current, code", [(1.1, 0), (1.5, 1)])
def test_gate_exit_code_follows_the_failures(monkeypatch, capsys, current, code):
    calls = []
    comparisons = [
        Comparison("gradnorm at 128 tasks", current, 1.0, 0.02, 0.2),
        Comparison("lbtw at 32 tasks", 1, 1, 0.01, 0.2),
    ]
    monkeypatch.setattr(mtlperf.cli, "compare", lambda *args: calls.append(args) or comparisons)
    got, out, _ = _run(["gate", "--baseline", "a.json", "--current", "b.json", "--max-regression", "0.2"], capsys)
    assert got == code and calls == [(["a.json"], "b.json", 0.2)]
    assert "compared 2 ratios" in out and "largest 2.0% (gradnorm at 128 tasks)" in out
    assert ("gate passed" in out) == (code == 0)
    assert ("gradnorm at 128 tasks: 1.500x, baseline 1.000x (+50%, allowed +20%)" in out) == (code == 1)


def test_data_fetch_calls_the_data_package(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(mtlperf.cli, "fetch_pcba", lambda cache_dir=None: calls.append(cache_dir) or tmp_path)
    code, out, _ = _run(["data", "fetch", "pcba", "--cache-dir", str(tmp_path)], capsys)
    assert code == 0 and calls == [str(tmp_path)] and str(tmp_path) in out


def test_a_failed_download_is_one_line(monkeypatch, capsys):
    def offline(cache_dir=None):
        raise FetchError("could not download pcba.csv.gz: no network")

    monkeypatch.setattr(mtlperf.cli, "fetch_pcba", offline)
    code, _, err = _run(["data", "fetch", "pcba"], capsys)
    assert code == 1 and err.strip() == "mtlperf: error: could not download pcba.csv.gz: no network"


def test_reproduce_mtregression_writes_its_study(tmp_path):
    out = tmp_path / "study"
    args = [
        "reproduce",
        "mtregression",
        "--seeds",
        "1",
        "--steps",
        "20",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    summary = json.loads((out / "mtregression.json").read_text())
    assert {"constant", "slaw", "pcgrad"} <= set(summary["methods"])
    assert (out / "table1.md").exists() and (out / "loss_weight_error.png").exists()


def test_train_with_the_gin_model_reads_graphs_and_writes_per_task_metrics(tmp_path, capsys):
    out = tmp_path / "gin.json"
    code, _, err = _run(
        [*TINY_TRAIN, "--model", "gin", "--hidden", "16,16", "--method", "gradnorm", "--out", str(out)], capsys
    )
    assert code == 0, err
    result = json.loads(out.read_text())
    assert result["config"]["model"] == "gin" and result["config"]["hidden"] == [16, 16]
    assert len(result["test"]["pr_auc"]) == len(result["test"]["roc_auc"]) == 3


def test_fingerprint_options_with_the_gin_model_are_one_line_exit_2(capsys):
    code, _, err = _run([*TINY_TRAIN, "--model", "gin", "--n-bits", "512"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "molecular graphs" in err
