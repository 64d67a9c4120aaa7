from __future__ import annotations

import json
import math
import statistics
import time

import pytest
import torch

import mtlperf.scaling
from mtlperf.scaling import run_scaling


class FakeCase:
    """A StepCase stand-in: a step that costs ``seconds`` and counts itself."""

    def __init__(self, spec: str, n_tasks: int, seconds: float):
        self.spec, self.n_tasks, self.seconds = spec, n_tasks, seconds
        self.device, self.implementation, self.steps = torch.device("cpu"), None, 0

    def run(self):
        time.sleep(self.seconds)
        self.steps += 1


@pytest.fixture
def fake(monkeypatch):
    """Replace building and memory measurement; record which cases were built."""
    built: list[tuple[str, int]] = []
    seconds = {"constant": 0.001, "lbtw": 0.002, "slaw": 0.003}

    def make_case(spec, n_tasks, batch_size, device, seed, slowdown=1.0):
        built.append((spec, n_tasks))
        return FakeCase(spec, n_tasks, seconds.get(spec, 0.001) * slowdown)

    monkeypatch.setattr(mtlperf.scaling, "make_case", make_case)
    monkeypatch.setattr(mtlperf.scaling, "peak_memory_bytes", lambda case: 1000 * case.n_tasks)
    monkeypatch.setattr(mtlperf.scaling, "step_flops", lambda case: {"total": 10**6 * case.n_tasks})
    monkeypatch.setattr(mtlperf.scaling, "gemm_rate", lambda device: {**PEAK, "device": device.type})
    return built


PEAK = {"flops_per_s": 1e9, "size": 2048, "dtype": "float32", "threads": 2, "device_name": "test"}


SMALL = dict(batch_size=8, steps=3, warmup=1, device="cpu", progress=False)


def test_the_result_file_has_every_case_with_ratios_and_growth(tmp_path, fake):
    result = run_scaling(["lbtw", "slaw", "lbtw"], [32, 128], out_dir=str(tmp_path), **SMALL)
    saved = json.loads((tmp_path / "scaling.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert {k: saved[k] for k in ("device", "batch_size", "steps")} == {"device": "cpu", "batch_size": 8, "steps": 3}
    assert saved["torch"] == torch.__version__ and saved["device_name"]
    cases = [(r["method"], r["n_tasks"]) for r in saved["results"]]
    assert sorted(cases) == sorted((m, t) for m in ("constant", "lbtw", "slaw") for t in (32, 128))
    for r in saved["results"]:
        step = r["step_time_s"]
        assert 0 < step["min"] <= step["median"] <= step["max"]
        assert r["peak_memory_bytes"] == 1000 * r["n_tasks"] and "implementation" in r
    by_case = {(r["method"], r["n_tasks"]): r for r in saved["results"]}
    assert by_case["constant", 32]["ratio_to_constant"] == 1.0
    assert by_case["slaw", 32]["ratio_to_constant"] > 1.5  # 3 ms steps against 1 ms ones
    assert set(saved["growth_32_to_128"]) == {"constant", "lbtw", "slaw"}
    growth = saved["growth_32_to_128"]["lbtw"]
    assert growth == by_case["lbtw", 128]["step_time_s"]["median"] / by_case["lbtw", 32]["step_time_s"]["median"]
    text = (tmp_path / "scaling.md").read_text()
    assert text.count("`lbtw`") == text.count("| method |") == 6  # one row in each table
    assert (tmp_path / "scaling.png").stat().st_size > 0


def test_methods_are_interleaved_and_rotated_round_by_round(tmp_path, monkeypatch):
    order: list[str] = []

    class LoggingCase(FakeCase):
        def run(self):
            order.append(self.spec)

    monkeypatch.setattr(mtlperf.scaling, "make_case", lambda spec, n, *a, **k: LoggingCase(spec, n, 0))
    monkeypatch.setattr(mtlperf.scaling, "peak_memory_bytes", lambda case: None)
    monkeypatch.setattr(mtlperf.scaling, "step_flops", lambda case: {"total": 0})
    monkeypatch.setattr(mtlperf.scaling, "gemm_rate", lambda device: PEAK)
    run_scaling(["lbtw", "slaw"], [32], out_dir=str(tmp_path), **{**SMALL, "warmup": 0})
    assert order == ["constant", "lbtw", "slaw", "lbtw", "slaw", "constant", "slaw", "constant", "lbtw"]


def test_an_interrupted_run_keeps_finished_cases_and_resumes_without_remeasuring(tmp_path, fake, monkeypatch, capsys):
    calls = []

    def memory_then_crash(case):
        calls.append(case.spec)
        if len(calls) == 5:  # while measuring the second case at 64 tasks
            raise KeyboardInterrupt
        return 1

    monkeypatch.setattr(mtlperf.scaling, "peak_memory_bytes", memory_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run_scaling(["lbtw", "slaw"], [32, 64], out_dir=str(tmp_path), **SMALL)
    kept = json.loads((tmp_path / "scaling.json").read_text())["results"]
    assert [(r["method"], r["n_tasks"]) for r in kept] == [("constant", 32), ("lbtw", 32), ("slaw", 32)]

    fake.clear()
    monkeypatch.setattr(mtlperf.scaling, "peak_memory_bytes", lambda case: 2)
    result = run_scaling(["lbtw", "slaw"], [32, 64], out_dir=str(tmp_path), **SMALL)
    assert fake == [("constant", 64), ("lbtw", 64), ("slaw", 64)]
    assert result["results"][:3] == kept
    assert [(r["method"], r["n_tasks"]) for r in result["results"][3:]] == [
        ("constant", 64),
        ("lbtw", 64),
        ("slaw", 64),
    ]

    fake.clear()
    capsys.readouterr()
    run_scaling(["lbtw"], [32, 64], out_dir=str(tmp_path), **SMALL)
    assert fake == []  # everything asked for is there already
    assert "4 of 4 cases already measured" in capsys.readouterr().err, "a rerun says it reused the file"


def test_without_a_batch_size_the_device_default_is_used(tmp_path, fake):
    result = run_scaling(["lbtw"], [32], out_dir=str(tmp_path), **{**SMALL, "batch_size": None})
    assert result["batch_size"] == mtlperf.scaling.DEFAULT_BATCH["cpu"] == 256


def test_the_growth_column_appears_only_when_32_and_128_were_both_measured(tmp_path, fake):
    run_scaling(["lbtw"], [32, 64], out_dir=str(tmp_path / "short"), **SMALL)
    assert "growth" not in (tmp_path / "short" / "scaling.md").read_text()
    run_scaling(["lbtw"], [32, 128], out_dir=str(tmp_path / "full"), **SMALL)
    assert "growth 32→128" in (tmp_path / "full" / "scaling.md").read_text()


def test_a_different_setting_in_the_same_directory_is_refused(tmp_path, fake):
    run_scaling(["lbtw"], [32], out_dir=str(tmp_path), **SMALL)
    fake.clear()
    with pytest.raises(ValueError, match="batch_size 8 there, 16 now"):
        run_scaling(["lbtw"], [32], out_dir=str(tmp_path), **{**SMALL, "batch_size": 16})
    assert fake == []


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(methods=["lbtw", "no-such-method"]), "unknown method"),
        (dict(methods=[]), "methods"),
        (dict(tasks=[32, 129]), "from 1 to 128"),
        (dict(tasks=[]), "tasks"),
        (dict(device="tpu"), "unknown device"),
        (dict(steps=0), "steps"),
        (dict(warmup=-1), "warmup"),
        (dict(batch_size=0), "batch_size"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_input_fails_before_anything_is_timed_or_written(tmp_path, fake, change, message):
    kwargs = {"methods": ["lbtw"], "tasks": [32], "out_dir": str(tmp_path), **SMALL, **change}
    with pytest.raises(ValueError, match=message):
        run_scaling(**kwargs)
    assert fake == [] and not (tmp_path / "scaling.json").exists()


def test_torchjd_row_is_skipped_with_a_note_when_torchjd_is_missing(tmp_path, fake, monkeypatch):
    monkeypatch.setattr(mtlperf.scaling, "torchjd_available", lambda: False)
    result = run_scaling(["torchjd-pcgrad"], [32], out_dir=str(tmp_path), **SMALL)
    assert [r["method"] for r in result["results"]] == ["constant"]
    assert "torchjd" in result["notes"][0]
    assert "torchjd" in (tmp_path / "scaling.md").read_text()


def test_a_real_run_at_tiny_size(tmp_path):
    result = run_scaling(
        ["lbtw"], [32, 128], batch_size=16, steps=1, warmup=0, device="cpu", out_dir=str(tmp_path), progress=False
    )
    assert [(r["method"], r["n_tasks"]) for r in result["results"]] == [
        ("constant", 32),
        ("lbtw", 32),
        ("constant", 128),
        ("lbtw", 128),
    ]
    assert all(r["step_time_s"]["median"] > 0 for r in result["results"])
    assert set(result["growth_32_to_128"]) == {"constant", "lbtw"}


def test_an_accuracy_file_adds_mean_ap_to_the_results_and_a_second_panel(tmp_path, fake):
    plain = run_scaling(["lbtw"], [32], out_dir=str(tmp_path / "plain"), **SMALL)
    ap = {"pooled": 0.41, "per_task_mean": 0.35}
    accuracy = {
        "results": [
            {
                "method": "lbtw",
                "n_tasks": 32,
                "status": "ok",
                "pooled_pr_auc": {"mean": 0.41},
                "mean_pr_auc": {"mean": 0.35},
            }
        ]
    }
    (tmp_path / "accuracy.json").write_text(json.dumps(accuracy))
    result = run_scaling(["lbtw"], [32], out_dir=str(tmp_path / "with"), accuracy=tmp_path / "accuracy.json", **SMALL)
    by_method = {r["method"]: r for r in result["results"]}
    assert by_method["lbtw"]["mean_ap"] == ap and "mean_ap" not in by_method["constant"]
    assert all("mean_ap" not in r for r in plain["results"])
    from matplotlib.image import imread

    from mtlperf.reports import DPI, PANEL_SIZE

    wide, narrow = (imread(tmp_path / d / "scaling.png").shape[1] for d in ("with", "plain"))
    assert abs((wide - narrow) / (PANEL_SIZE[0] * DPI) - 1) < 0.2  # one panel more


def test_a_file_that_is_not_an_accuracy_result_is_refused_before_timing(tmp_path, fake):
    (tmp_path / "accuracy.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="not an accuracy.json"):
        run_scaling(["lbtw"], [32], out_dir=str(tmp_path), accuracy=tmp_path / "accuracy.json", **SMALL)
    assert fake == []


def test_a_planted_slowdown_is_timed_and_recorded_and_every_ratio_has_its_error(tmp_path, fake):
    result = run_scaling(["lbtw", "slaw"], [32], out_dir=str(tmp_path), slowdown={"slaw": 2.0}, **{**SMALL, "steps": 5})
    assert result["planted_slowdown"] == {"slaw": 2.0}
    ratio = {r["method"]: r["ratio_to_constant"] for r in result["results"]}
    assert ratio["slaw"] / ratio["lbtw"] > 2.0  # 3 ms x 2 against 2 ms
    assert all(r["ratio_se"] >= 0 for r in result["results"])
    with pytest.raises(ValueError, match="slowdown names pcgrad"):
        run_scaling(["lbtw"], [32], out_dir=str(tmp_path / "other"), slowdown={"pcgrad": 1.5}, **SMALL)


def test_a_real_case_with_a_planted_slowdown_waits_that_factor_of_its_own_step(monkeypatch):
    import mtlperf.cases
    from mtlperf.cases import make_case

    ticks, slept = iter(range(1000)), []
    monkeypatch.setattr(mtlperf.cases.time, "perf_counter", lambda: next(ticks) * 0.01)  # a step reads 0.01 s
    monkeypatch.setattr(mtlperf.cases.time, "sleep", slept.append)
    case = make_case("constant", 4, 16, "cpu", slowdown=5.0)
    losses = [case.run() for _ in range(3)]
    assert slept == pytest.approx([0.04] * 3) and all(torch.isfinite(x).all() for x in losses)
    make_case("constant", 4, 16, "cpu").run()
    assert len(slept) == 3  # no slowdown, no wait


def test_repeats_build_every_case_anew_and_the_ratio_is_their_median(tmp_path, monkeypatch):
    built = []
    real = mtlperf.scaling.make_case
    monkeypatch.setattr(mtlperf.scaling, "make_case", lambda spec, *a, **k: built.append(spec) or real(spec, *a, **k))
    result = run_scaling(["lbtw"], [32], out_dir=str(tmp_path), **{**SMALL, "repeats": 3})
    assert built == ["constant", "lbtw", "lbtw", "constant", "constant", "lbtw"]  # rotated build order
    [lbtw] = [r for r in result["results"] if r["method"] == "lbtw"]
    assert len(lbtw["ratio_repeats"]) == 3 and result["repeats"] == 3
    assert lbtw["ratio_to_constant"] == statistics.median(lbtw["ratio_repeats"])
    logs = [math.log(r) for r in lbtw["ratio_repeats"]]
    assert lbtw["ratio_se"] == pytest.approx(1.2533 * statistics.stdev(logs) / math.sqrt(3))


def test_every_case_records_its_work_its_share_of_the_gemm_peak_and_its_memory_per_build(tmp_path, fake):
    result = run_scaling(["lbtw"], [32, 64], out_dir=str(tmp_path), **{**SMALL, "repeats": 3})
    assert result["gemm_peak"]["flops_per_s"] == PEAK["flops_per_s"]
    for r in result["results"]:
        assert r["flops_per_step"]["total"] == 10**6 * r["n_tasks"]
        assert r["fraction_of_gemm_peak"] == pytest.approx(10**6 * r["n_tasks"] / r["step_time_s"]["median"] / 1e9)
        assert r["peak_memory_repeats"] == [1000 * r["n_tasks"]] * 3
    text = (tmp_path / "scaling.md").read_text()
    assert "% of the dense-GEMM peak (1.0 GFLOP/s" in text and "Work per step (GFLOP" in text
    lbtw_64 = next(r for r in result["results"] if r["method"] == "lbtw" and r["n_tasks"] == 64)
    assert f"{100 * lbtw_64['fraction_of_gemm_peak']:.1f}%" in text
