"""``pytest -m paper``: the papers' full experiments against their published numbers.

- LBTW Table 1 / S2 on the real PCBA-128 (``mtlperf data fetch pcba`` or ``$MTLPERF_PCBA``).
- SLAW's MTRegression claims at the paper's 9,900 steps.

They take hours on a CPU, so they run only when selected with ``-m paper`` (or ``-m slow``); the
runs are resumable and kept in ``$MTLPERF_PAPER_DIR`` (default: ``<cache dir>/paper-runs``), so a
rerun only checks. Without the PCBA file the PCBA tests skip, saying how to get it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mtlperf.data.cache import cache_dir
from mtlperf.paper import lbtw_per_task, lbtw_summary
from mtlperf.reproduce import LBTW_SPECS, PCBA_HELP, pcba_file, reproduce_lbtw, reproduce_mtregression

pytestmark = [pytest.mark.paper, pytest.mark.slow]

MTREGRESSION_SEEDS = 2


def _selected(config) -> bool:
    """Was this suite asked for (``-m paper``, ``-m slow``), not merely left in by a plain run?"""
    return bool(re.search(r"(?<!not )\b(paper|slow)\b", config.getoption("markexpr") or ""))


def _runs_dir(name: str) -> Path:
    return Path(os.environ.get("MTLPERF_PAPER_DIR") or cache_dir() / "paper-runs") / name


@pytest.fixture(scope="module")
def pcba_study(request):
    if pcba_file() is None:
        pytest.skip(f"the real PCBA file is not there; {PCBA_HELP}")
    if not _selected(request.config):
        pytest.skip("the full PCBA study takes hours; run it with pytest -m paper")
    return reproduce_lbtw("pcba", None, 1, _runs_dir("lbtw-pcba"))


@pytest.fixture(scope="module")
def mtregression_study(request):
    if not _selected(request.config):
        pytest.skip("9,900 steps x 7 methods x 2 seeds takes about an hour on a CPU; run it with pytest -m paper")
    return reproduce_mtregression(MTREGRESSION_SEEDS, _runs_dir("mtregression"))


@pytest.mark.parametrize("spec", LBTW_SPECS)
def test_pcba_mean_pr_auc_and_negative_transfer_match_table1(pcba_study, spec):
    ours, paper = pcba_study["methods"][spec], lbtw_summary()[spec]
    assert ours["status"] == "ok"
    assert ours["mean_pr_auc"] == pytest.approx(paper["mean_pr_auc"], abs=0.01)
    if spec != "stl":
        assert abs(ours["nt_pr_auc"] - paper["nt_pr_auc"]) <= 5


@pytest.mark.parametrize("spec", LBTW_SPECS)
def test_pcba_per_task_pr_auc_ranks_like_table_s2(pcba_study, spec):
    import pandas as pd

    ours = pd.read_csv(pcba_study["files"]["per_task"], index_col="task")[f"pr_auc/{spec}"]
    paper = lbtw_per_task("pr_auc")[spec]
    assert ours.corr(paper.reindex(ours.index), method="spearman") >= 0.8


@pytest.mark.parametrize(
    "claim",
    [
        "slaw_error_10x_below_constant",
        "slaw_error_10x_below_dwa",
        "gradnorm_error_10x_below_constant",
        "gradnorm_error_10x_below_dwa",
        "slaw_settles_before_gradnorm",
        "slaw_test_loss_within_10pct_of_ideal",
    ],
)
def test_mtregression_claims_hold_at_full_length(mtregression_study, claim):
    assert mtregression_study["claims"][claim]["holds"], mtregression_study["claims"][claim]
