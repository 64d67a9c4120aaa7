"""Mean PR AUC per method on the embedded real data, pinned to the baselines recorded in results/accuracy/.

Each baseline is an ``accuracy.json`` written by the command in results/accuracy/README.md (several
seeds). Here seed 0 is trained again with the baseline's own settings, and must land within
:func:`mtlperf.accuracy.tolerance` of the baseline's mean: three seed standard deviations, as
measured by the baseline itself, and at least 0.005 (another CPU rounds differently).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mtlperf.accuracy import accuracy_sweep, tolerance
from mtlperf.io import read_json

BASELINES = sorted((Path(__file__).parents[1] / "results" / "accuracy").glob("*/accuracy.json"))

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=BASELINES, ids=lambda path: path.parent.name)
def pinned(request, tmp_path_factory):
    baseline = read_json(request.param)
    settings = {k: v for k, v in baseline["config"].items() if k != "device"}
    methods = list(dict.fromkeys(r["method"] for r in baseline["results"]))
    rerun = accuracy_sweep(
        baseline["dataset"],
        baseline["tasks"],
        1,
        tmp_path_factory.mktemp("rerun"),
        methods=methods,
        preset=baseline["preset"],
        device="cpu",
        slaw_filter=baseline["slaw_filter"],
        progress=False,
        **settings,
    )
    return baseline, rerun


def test_there_are_baselines_for_tox21_and_toxcast_128():
    assert {path.parent.name for path in BASELINES} >= {"tox21", "toxcast-128"}


def test_every_method_lands_within_the_seed_spread_of_its_baseline(pinned):
    baseline, rerun = pinned
    ours = {(r["method"], r["n_tasks"]): r for r in rerun["results"]}
    misses = []
    for entry in baseline["results"]:
        got = ours[entry["method"], entry["n_tasks"]]
        assert got["status"] == "ok", got["status"]
        expected = entry["mean_pr_auc"]
        if abs(got["mean_pr_auc"]["mean"] - expected["mean"]) > tolerance(expected):
            misses.append(
                f"{entry['method']}: {got['mean_pr_auc']['mean']:.4f}, baseline {expected['mean']:.4f} "
                f"± {tolerance(expected):.4f}"
            )
    assert not misses, "; ".join(misses)
