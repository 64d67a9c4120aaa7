"""The gate calibration counts false alarms on identical runs and detections of a planted slowdown."""

from __future__ import annotations

import pytest

import mtlperf.scaling
from mtlperf.cli import main
from mtlperf.gate_calibration import calibrate_gate

COST = {"constant": 1.0, "lbtw": 1.05, "gradnorm": 3.0}  # seconds per step of each fake case


class Fake:
    def __init__(self, spec, slowdown):
        self.spec, self.slowdown, self.implementation = spec, slowdown, None


@pytest.fixture
def timed(monkeypatch):
    """Cases that cost COST x slowdown with a fixed 2% wobble over rounds: the same numbers every run."""
    monkeypatch.setattr(mtlperf.scaling, "make_case", lambda spec, n, b, d, s, slowdown=1.0: Fake(spec, slowdown))
    monkeypatch.setattr(mtlperf.scaling, "peak_memory_bytes", lambda case: None)
    monkeypatch.setattr(mtlperf.scaling, "step_flops", lambda case: {"total": 0})
    peak = {"flops_per_s": 1e9, "size": 8, "dtype": "float32", "threads": 1, "device_name": "test"}
    monkeypatch.setattr(mtlperf.scaling, "gemm_rate", lambda device: peak)

    def time_interleaved(cases, steps, warmup, on_round=None):
        wobble = [1.0 + 0.02 * ((k % 3) - 1) for k in range(steps)]
        return {name: [COST[c.spec] * c.slowdown * w for w in wobble] for name, c in cases.items()}

    monkeypatch.setattr(mtlperf.scaling, "time_interleaved", time_interleaved)


def test_identical_runs_never_fire_and_a_planted_slowdown_is_named(tmp_path, timed):
    summary = calibrate_gate(
        ["lbtw", "gradnorm"], [32, 128], runs=3, slowed="gradnorm", factor=1.5, out_dir=tmp_path,
        batch_size=8, steps=6, warmup=0, device="cpu",
    )  # fmt: skip
    assert summary["false_alarm_rate"] == 0.0
    assert summary["detection_rate"] == 1.0 and summary["other_method_blamed_rate"] == 0.0
    assert len(summary["pairs"]) == 3 + 9 and (tmp_path / "calibration.md").is_file()
    assert summary["runs_baseline"] == {"false_alarm_rate": 0.0, "detection_rate": 1.0, "other_method_blamed_rate": 0.0}
    assert len(summary["runs_baseline_comparisons"]) == 3 + 3


def test_a_slowdown_inside_the_margin_is_not_detected(tmp_path, timed):
    summary = calibrate_gate(
        ["lbtw", "gradnorm"], [32], runs=2, slowed="gradnorm", factor=1.05, out_dir=tmp_path,
        batch_size=8, steps=6, warmup=0, device="cpu",
    )  # fmt: skip
    assert summary["detection_rate"] == 0.0


@pytest.mark.parametrize("plant", ["gradnorm", "gradnorm=1", "gradnorm=fast", "=2"])
def test_a_bad_plant_is_one_line_exit_2(plant, tmp_path, capsys):
    argv = ["calibrate-gate", "--methods", "gradnorm", "--plant", plant, "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "SPEC=FACTOR" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
