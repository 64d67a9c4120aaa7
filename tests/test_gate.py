from __future__ import annotations

import json

import pytest

from mtlperf.gate import check, compare, summary


def scaling(ratios: dict[tuple[str, int], float], growth: dict[str, float], **settings) -> dict:
    return {
        "device": "cpu",
        "batch_size": 256,
        **settings,
        "results": [
            {"method": m, "n_tasks": t, "ratio_to_constant": r, "step_time_s": {"median": r}}
            for (m, t), r in ratios.items()
        ],
        "growth_32_to_128": growth,
    }


@pytest.fixture
def write(tmp_path):
    def write(name: str, data) -> str:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)

    return write


BASE = scaling(
    {("constant", 32): 1.0, ("pcgrad", 32): 3.0, ("pcgrad", 128): 10.0, ("slaw", 128): 1.1},
    {"pcgrad": 12.0, "constant": 1.4},
)


def test_within_the_margin_passes(write):
    current = scaling(
        {("constant", 32): 1.0, ("pcgrad", 32): 3.29, ("pcgrad", 128): 9.0, ("slaw", 128): 1.2},
        {"pcgrad": 13.1, "constant": 1.3},
    )
    assert check(write("base.json", BASE), write("cur.json", current), 0.10) == []


def test_a_ratio_or_a_growth_beyond_the_margin_fails_and_names_it(write):
    current = scaling(
        {("pcgrad", 32): 3.0, ("pcgrad", 128): 11.5, ("slaw", 128): 1.1}, {"pcgrad": 12.0, "constant": 1.6}
    )  # constant's own absolute growth (1.4 -> 1.6) is drift, not gated
    failures = check(write("base.json", BASE), write("cur.json", current), 0.10)
    assert len(failures) == 2
    assert "pcgrad at 128 tasks" in failures[0] and "+15%" in failures[0]
    assert "pcgrad growth 32->128 tasks relative to constant" in failures[1] and "+15%" in failures[1]
    # a wider margin lets both through
    assert check(write("base.json", BASE), write("cur.json", current), 0.20) == []


def test_methods_in_only_one_file_are_not_compared(write):
    current = scaling({("pcgrad", 128): 10.0, ("gradnorm", 128): 50.0}, {"gradnorm": 40.0})
    assert check(write("base.json", BASE), write("cur.json", current), 0.10) == []


def test_nothing_in_common_is_an_error_not_a_pass(write):
    current = scaling({("gradnorm", 64): 5.0}, {})
    with pytest.raises(ValueError, match="nothing to compare"):
        check(write("base.json", BASE), write("cur.json", current), 0.10)


def test_bad_inputs_raise_clear_errors(write, tmp_path):
    base = write("base.json", BASE)
    with pytest.raises(ValueError, match="baseline file not found"):
        check(tmp_path / "missing.json", base, 0.1)
    with pytest.raises(ValueError, match="not valid JSON"):
        check(base, write("bad.json", "{"), 0.1)
    with pytest.raises(ValueError, match="missing growth_32_to_128"):
        check(base, write("cur.json", {"device": "cpu", "batch_size": 256, "results": []}), 0.1)
    broken = scaling({("pcgrad", 32): 3.0}, {})
    del broken["results"][0]["ratio_to_constant"]
    with pytest.raises(ValueError, match=r"results\[0\] is missing ratio_to_constant"):
        check(base, write("cur.json", broken), 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        check(base, write("cur.json", scaling({("pcgrad", 32): 3.0}, {}, batch_size=40000)), 0.1)
    with pytest.raises(ValueError, match="max_regression"):
        check(base, base, -0.1)


def with_errors(data: dict, se: float) -> dict:
    return {**data, "results": [{**r, "ratio_se": se} for r in data["results"]]}


def test_a_change_within_the_measured_noise_passes_and_the_margin_grows_with_it(write):
    slower = scaling({("pcgrad", 32): 3.6}, {})
    plain = [write("b.json", scaling({("pcgrad", 32): 3.0}, {})), write("c.json", slower)]
    assert check(*plain, 0.10) != []  # +20% with no recorded noise: a regression
    noisy = [
        write("bn.json", with_errors(scaling({("pcgrad", 32): 3.0}, {}), 0.05)),
        write("cn.json", with_errors(slower, 0.05)),
    ]
    assert check(*noisy, 0.10) == []  # 4 x hypot(5%, 5%) = 28% allowed
    much_slower = write("cs.json", with_errors(scaling({("pcgrad", 32): 4.5}, {}), 0.05))
    failures = check(noisy[0], much_slower, 0.10)
    assert len(failures) == 1 and failures[0].startswith("pcgrad at 32 tasks") and "allowed +28%" in failures[0]


def test_several_baseline_runs_set_the_noise_from_their_spread(write):
    runs = [write(f"r{i}.json", scaling({("pcgrad", 32): r}, {})) for i, r in enumerate((2.8, 3.0, 3.2))]
    within = write("w.json", scaling({("pcgrad", 32): 3.6}, {}))  # +20%: inside 4 x sd(6.7%) x sqrt(4/3)
    assert check(runs, within, 0.10) == []
    assert check(runs[1], within, 0.10) != []  # one run with no recorded error: +20% is a regression
    failures = check(runs, write("x.json", scaling({("pcgrad", 32): 4.5}, {})), 0.10)
    assert len(failures) == 1 and "baseline 3.000x (+50%, allowed +31%)" in failures[0]


def test_several_baseline_runs_never_claim_less_noise_than_one_run_measures(write):
    # three baseline runs that agree by chance: their spread (0.3%) is not the noise, their own errors (5%) are
    runs = [
        write(f"r{i}.json", with_errors(scaling({("pcgrad", 32): r}, {}), 0.05))
        for i, r in enumerate((2.99, 3.0, 3.01))
    ]
    current = write("c.json", with_errors(scaling({("pcgrad", 32): 3.6}, {}), 0.05))
    assert check(runs, current, 0.10) == []  # +20% inside 4 x hypot(5%, 5%)


def test_the_summary_names_the_count_and_the_noisiest_comparison(write):
    base = write("b.json", with_errors(scaling({("pcgrad", 32): 3.0, ("gradnorm", 32): 2.0}, {}), 0.01))
    current = with_errors(scaling({("pcgrad", 32): 3.0, ("gradnorm", 32): 2.0}, {}), 0.01)
    current["results"][0]["ratio_se"] = 0.09
    comparisons = compare(base, write("c.json", current), 0.10)
    line = summary(comparisons, 0.10)
    assert line.startswith(f"compared {len(comparisons)} ") and "largest 9.1%" in line
