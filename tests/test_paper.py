"""The papers' tables shipped in mtlperf.paper: complete, internally consistent, loadable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mtlperf import paper

EXPECTED_SHAPES = {
    "lbtw_table1_summary": (4, 9),
    "lbtw_table_s2_pr_auc": (128, 9),
    "lbtw_table_s3_roc_auc": (128, 9),
    "sgnn_ebm_table1_datasets": (3, 4),
    "sgnn_ebm_table2_roc_auc": (9, 8),
    "sgnn_ebm_table3_noise": (7, 8),
    "sgnn_ebm_table4_layers": (3, 7),
    "slaw_pcba_scaling_facts": (21, 3),
}
SHARED_TABLES = Path("/work/shared/paper-tables")
PACKAGE_TABLES = Path(paper.__file__).parent / "tables"
N_TASKS = 128

# Table 1's mean is round(true mean, 3), so it is within 0.0005 of the true mean.
# The per-task values are each rounded to 3 decimals too: their rounding errors are
# independent and uniform on [-0.0005, 0.0005] (sd 0.001/sqrt(12)), so the mean of
# the 128 rounded values strays from the true mean by sd 0.001/sqrt(12*128) ~ 2.6e-5;
# four of those sds is the slack.
MEAN_TOLERANCE = 0.0005 + 4 * 0.001 / math.sqrt(12 * N_TASKS)


def test_every_table_loads_with_its_printed_shape():
    assert paper.list_tables() == sorted(EXPECTED_SHAPES)
    for name, shape in EXPECTED_SHAPES.items():
        table = paper.load_table(name)
        assert table.shape == shape, name
        assert paper.load_table(f"{name}.csv").equals(table)


@pytest.mark.skipif(not SHARED_TABLES.is_dir(), reason="the shared paper tables are not on this machine")
def test_package_tables_are_exact_copies_of_the_shared_ones():
    shared = sorted(p.name for p in SHARED_TABLES.glob("*.csv"))
    assert sorted(p.name for p in PACKAGE_TABLES.glob("*.csv")) == shared
    for name in shared:
        assert (PACKAGE_TABLES / name).read_bytes() == (SHARED_TABLES / name).read_bytes(), name


def test_unknown_table_is_a_value_error_listing_the_names():
    with pytest.raises(ValueError, match="unknown paper table 'table9'.*lbtw_table1_summary.*slaw_pcba_scaling_facts"):
        paper.load_table("table9")


@pytest.mark.parametrize("metric", paper.LBTW_METRICS)
def test_per_task_tables_reproduce_table1_means(metric):
    per_task = paper.lbtw_per_task(metric)
    summary = paper.lbtw_summary()
    assert per_task.shape == (N_TASKS, len(paper.LBTW_METHODS))
    assert not per_task.isna().any().any()
    for spec in paper.LBTW_METHODS.values():
        gap = abs(per_task[spec].mean() - summary[spec][f"mean_{metric}"])
        assert gap <= MEAN_TOLERANCE, (spec, gap)


@pytest.mark.parametrize("metric", paper.LBTW_METRICS)
def test_negative_transfer_counts_from_per_task_tables_match_table1_within_two(metric):
    # Table 1 counted before rounding to 3 decimals; ties and near-ties move a count by one or two.
    per_task = paper.lbtw_per_task(metric)
    summary = paper.lbtw_summary()
    assert summary["stl"][f"nt_{metric}"] is None
    for spec in paper.LBTW_METHODS.values():
        if spec == "stl":
            continue
        below_stl = int((per_task[spec] < per_task["stl"]).sum())
        assert abs(below_stl - summary[spec][f"nt_{metric}"]) <= 2, (spec, below_stl)


def test_per_task_tables_cover_the_pcba_tasks_in_dataset_order():
    tasks = (Path(paper.__file__).parent.parent / "data" / "embedded" / "pcba_tasks.txt").read_text().split()
    for metric in paper.LBTW_METRICS:
        assert list(paper.lbtw_per_task(metric).index) == tasks


def test_summary_uses_our_method_specs_and_the_printed_numbers():
    summary = paper.lbtw_summary()
    assert list(summary) == list(paper.LBTW_METHODS.values())
    assert summary["lbtw:alpha=0.5"] == {"mean_pr_auc": 0.253, "nt_pr_auc": 42, "mean_roc_auc": 0.863, "nt_roc_auc": 11}
    assert summary["gradnorm:alpha=0.1"]["nt_pr_auc"] == 98
    assert paper.LBTW_METHODS["MTL"] == "constant"


def test_bad_metric_or_table_number_is_a_value_error():
    with pytest.raises(ValueError, match="unknown LBTW metric 'ap'; valid: pr_auc, roc_auc"):
        paper.lbtw_per_task("ap")
    with pytest.raises(ValueError, match="no table 5.*valid: 1, 2, 3, 4"):
        paper.sgnn_ebm_table(5)


def test_slaw_scaling_facts_are_typed_numbers():
    facts = paper.slaw_scaling_facts()
    assert facts["task_counts"] == [32, 64, 96, 128]
    assert facts["batch_size"] == 40000 and isinstance(facts["batch_size"], int)
    assert facts["learning_rate"] == pytest.approx(3e-4)
    assert facts["hidden_sizes"] == [2000, 100]
    assert facts["gradnorm_step_time_s_at_128_tasks"] == pytest.approx(16.2)


def test_sgnn_ebm_tables_agree_where_they_repeat_a_run():
    # Table 3's SGNN noise row is Table 2's SGNN-EBM (Fixed) row printed again.
    table2 = paper.sgnn_ebm_table(2).set_index("noise_distribution")
    table3 = paper.sgnn_ebm_table(3).set_index("noise_distribution")
    assert table3.loc["SGNN"].equals(table2.loc["SGNN (Fixed)"])
    assert list(paper.sgnn_ebm_table(1)["threshold"]) == [10, 50, 100]
    assert list(paper.sgnn_ebm_table(4)["sgnn_layers"]) == [0, 2, 4]
