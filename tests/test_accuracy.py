"""Accuracy against task count: the sweep's files, resuming, and the mean AP it hands to the scaling figure."""

from __future__ import annotations

import pytest

import mtlperf.sweep as sweep_engine
from mtlperf.accuracy import accuracy_sweep, tolerance
from mtlperf.cli import main
from mtlperf.scaling import attach_accuracy

TINY = dict(preset="short", epochs=1, device="cpu", progress=False, hidden=(32, 8), max_rows=800)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("accuracy")
    return out, accuracy_sweep("tox21", [3, 6], 2, out, methods=("constant", "pcgrad"), **TINY)


def test_sweep_has_every_method_at_every_task_count_with_its_seed_spread(sweep):
    out, summary = sweep
    assert summary["tasks"] == [3, 6] and summary["device"] == "cpu" and summary["preset"] == "short"
    assert [(r["method"], r["n_tasks"]) for r in summary["results"]] == [
        ("constant", 3),
        ("pcgrad", 3),
        ("constant", 6),
        ("pcgrad", 6),
    ]
    for r in summary["results"]:
        assert r["status"] == "ok" and r["n_runs"] == 2
        for metric in ("mean_pr_auc", "pooled_pr_auc", "mean_roc_auc"):
            values = r[metric]["values"]
            assert len(values) == 2 and all(0 <= v <= 1 for v in values)
            assert r[metric]["mean"] == pytest.approx(sum(values) / 2)
    assert (out / "accuracy.png").stat().st_size > 10_000
    assert "| `pcgrad` | 6 |" in (out / "accuracy.md").read_text()


def test_a_rerun_resumes_without_training(sweep, monkeypatch):
    out, summary = sweep

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sweep_engine, "train", no_training)
    assert (
        accuracy_sweep("tox21", [3, 6], 2, out, methods=("constant", "pcgrad"), **TINY)["results"] == summary["results"]
    )


def test_other_fingerprints_are_other_runs_and_reach_the_model(sweep, tmp_path, monkeypatch):
    out, summary = sweep
    widths = []
    for run in (out / "runs" / "3tasks").iterdir():
        (tmp_path / "runs" / "3tasks").mkdir(parents=True, exist_ok=True)
        (tmp_path / "runs" / "3tasks" / run.name).write_text(run.read_text())

    def record_width(dataset, spec, config, progress=True):
        widths.append((dataset.n_inputs, dataset.meta["radius"]))
        raise RuntimeError("stop here")

    monkeypatch.setattr(sweep_engine, "train", record_width)
    again = accuracy_sweep("tox21", [3], 1, tmp_path, methods=("constant",), n_bits=512, radius=2, **TINY)
    assert widths == [(512, 2)] and again["fingerprints"] == {"n_bits": 512, "radius": 2}
    assert summary["fingerprints"] == {"n_bits": 2048, "radius": 4}


def test_bad_task_count_fails_before_any_training(tmp_path):
    with pytest.raises(ValueError, match="only 12 task columns"):
        accuracy_sweep("tox21", [3, 50], 1, tmp_path, methods=("constant",), **TINY)
    assert not (tmp_path / "runs").exists()


def test_tolerance_is_three_seed_spreads_and_never_below_the_floor():
    assert tolerance({"mean": 0.3, "std": 0.01}) == pytest.approx(0.03)
    assert tolerance({"mean": 0.3, "std": 0.0}) == 0.005


def test_scaling_results_get_the_mean_ap_of_their_method_whatever_the_implementation(sweep):
    _, summary = sweep
    scaling = {
        "results": [
            {"method": m, "n_tasks": n}
            for m in ("pcgrad", "pcgrad:implementation=loop", "torchjd-pcgrad", "lbtw")
            for n in (3, 6)
        ]
    }
    attach_accuracy(scaling, summary["results"])
    trained = {(r["method"], r["n_tasks"]): r for r in summary["results"]}
    for result in scaling["results"]:
        if result["method"].startswith("pcgrad"):
            expected = trained["pcgrad", result["n_tasks"]]
            assert result["mean_ap"] == {
                "pooled": expected["pooled_pr_auc"]["mean"],
                "per_task_mean": expected["mean_pr_auc"]["mean"],
            }
        else:
            assert "mean_ap" not in result  # never trained: no accuracy made up for it


def test_cli_rejects_an_unknown_preset_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["accuracy", "--preset", "fast", "--out", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
