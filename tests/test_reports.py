"""Figures and markdown tables of mtlperf.reports, built from result dicts only."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mtlperf import paper, reports

TASK_COUNTS = (32, 64, 96, 128)


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(data) > 10_000, "an almost empty picture"
    return struct.unpack(">II", data[16:24])


def pixels(size_inches: tuple[float, float]) -> tuple[int, int]:
    return round(size_inches[0] * reports.DPI), round(size_inches[1] * reports.DPI)


@pytest.fixture
def saved_figures(monkeypatch):
    """Every Figure the reports save, so tests can read what was drawn."""
    figures = []
    original = Figure.savefig

    def spy(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def make_scaling(with_ap: bool = False) -> dict:
    per_task_cost = {"constant": 0.0001, "slaw": 0.00012, "gradnorm": 0.004}
    results = []
    for method, cost in per_task_cost.items():
        for n in TASK_COUNTS:
            median = 0.01 + cost * n
            result = {
                "method": method,
                "implementation": "batched" if method == "gradnorm" else None,
                "n_tasks": n,
                "step_time_s": {"median": median, "min": 0.9 * median, "max": 1.2 * median},
                "ratio_to_constant": median / (0.01 + 0.0001 * n),
                "peak_memory_bytes": 3 * 2**20 * n,
            }
            if with_ap:
                result["mean_ap"] = {"pooled": 0.3 - n / 1000, "per_task_mean": 0.2 - n / 1000}
            results.append(result)
    return {
        "device": "cpu",
        "device_name": "x86_64",
        "torch": "2.13.0",
        "batch_size": 40000,
        "steps": 5,
        "results": results,
        "growth_32_to_128": {"constant": 1.5, "slaw": 1.6, "gradnorm": 9.5},
    }


def test_plot_scaling_draws_one_log_scale_line_per_method(tmp_path, saved_figures):
    path = reports.plot_scaling(make_scaling(), tmp_path / "out" / "scaling.png")
    assert png_size(path) == pixels((reports.PANEL_SIZE[0] + reports.LEGEND_WIDTH, reports.PANEL_SIZE[1]))
    (fig,) = saved_figures
    (axis,) = fig.axes
    assert axis.get_yscale() == "log"
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert set(lines) == {"constant", "slaw", "gradnorm"}
    np.testing.assert_allclose(lines["gradnorm"].get_xdata(), TASK_COUNTS)
    np.testing.assert_allclose(lines["gradnorm"].get_ydata(), [0.01 + 0.004 * n for n in TASK_COUNTS])
    title = fig.get_suptitle()
    assert "cpu" in title and "40,000" in title


def test_plot_scaling_adds_an_ap_panel_when_results_carry_mean_ap(tmp_path, saved_figures):
    path = reports.plot_scaling(make_scaling(with_ap=True), tmp_path / "scaling.png")
    assert png_size(path) == pixels((2 * reports.PANEL_SIZE[0] + reports.LEGEND_WIDTH, reports.PANEL_SIZE[1]))
    time_axis, ap_axis = saved_figures[0].axes
    assert ap_axis.get_yscale() == "linear"
    ap_lines = ap_axis.get_lines()
    assert len(ap_lines) == 6  # pooled and per-task mean for each of three methods
    assert sorted(round(y, 6) for line in ap_lines for y in line.get_ydata()[:1]) == [0.168] * 3 + [0.268] * 3


def test_scaling_markdown_has_a_row_per_method_with_the_right_numbers():
    text = reports.scaling_markdown(make_scaling())
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert "x86_64 (cpu)" in text and "40,000" in text
    timing = [line for line in text.splitlines() if line.startswith("| `gradnorm`")]
    assert len(timing) == 3  # one row in each of the three tables
    assert [c.strip() for c in timing[0].split("|")[2:-1]] == ["138", "266", "394", "522", "9.50×"]
    assert [c.strip() for c in timing[1].split("|")[2:-1]] == ["10.45×", "16.22×", "20.10×", "22.89×"]
    assert [c.strip() for c in timing[2].split("|")[2:-1]] == ["96.0", "192.0", "288.0", "384.0"]
    assert set(rows) == {"`constant`", "`slaw`", "`gradnorm`"}
    assert "| `constant` | 13.2 | 16.4 | 19.6 | 22.8 | 1.50× |" in text


def test_scaling_markdown_marks_absent_values():
    scaling = make_scaling()
    scaling["results"] = [r for r in scaling["results"] if not (r["method"] == "slaw" and r["n_tasks"] == 96)]
    scaling["results"][0]["peak_memory_bytes"] = None
    scaling["growth_32_to_128"].pop("slaw")
    text = reports.scaling_markdown(scaling)
    assert "| `slaw` | 13.8 | 17.7 | – | 25.4 | – |" in text
    assert "| `constant` | – | 192.0 | 288.0 | 384.0 |" in text


@pytest.mark.parametrize(
    "break_it, named",
    [
        (lambda s: s.pop("device"), "device"),
        (lambda s: s["results"][2].pop("step_time_s"), "step_time_s"),
        (lambda s: s["results"][0]["step_time_s"].pop("max"), "max"),
        (lambda s: s["results"][1].pop("ratio_to_constant"), "ratio_to_constant"),
        (lambda s: s["results"].append(dict(s["results"][0])), "two results for 'constant' at 32 tasks"),
        (lambda s: s["results"][0]["step_time_s"].update(min=1.0), "min <= median <= max"),
    ],
)
def test_bad_scaling_input_is_a_value_error_naming_the_problem(tmp_path, break_it, named):
    scaling = make_scaling()
    break_it(scaling)
    with pytest.raises(ValueError, match=named):
        reports.scaling_markdown(scaling)
    if named != "ratio_to_constant":  # the figure does not need the ratio
        with pytest.raises(ValueError, match=named):
            reports.plot_scaling(scaling, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize("metric", paper.LBTW_METRICS)
def test_change_vs_stl_annotates_the_count_of_negative_differences(tmp_path, saved_figures, metric):
    per_task = paper.lbtw_per_task(metric)
    counts = reports.plot_change_vs_stl(per_task, tmp_path / "change.png", metric.upper())
    expected = {m: int((per_task[m] - per_task["stl"] < 0).sum()) for m in per_task.columns if m != "stl"}
    assert counts == expected
    assert png_size(tmp_path / "change.png") == pixels(reports.CHANGE_SIZE)
    (axis,) = saved_figures[0].axes
    annotations = [text.get_text() for text in axis.texts]
    assert annotations == [f"{expected[m]} below 0" for m in expected]
    assert [label.get_text() for label in axis.get_xticklabels()] == list(expected)


def test_change_vs_stl_counts_only_tasks_that_have_both_values(tmp_path):
    per_task = pd.DataFrame(
        {"stl": [0.5, 0.5, np.nan, 0.5], "lbtw": [0.4, np.nan, 0.1, 0.6], "constant": [0.5, 0.4, 0.2, 0.4]}
    )
    assert reports.plot_change_vs_stl(per_task, tmp_path / "c.png") == {"lbtw": 1, "constant": 2}


def test_change_vs_stl_is_the_same_picture_every_time(tmp_path):
    per_task = paper.lbtw_per_task("pr_auc").iloc[:, :3]
    reports.plot_change_vs_stl(per_task, tmp_path / "a.png")
    reports.plot_change_vs_stl(per_task, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_change_vs_stl_rejects_frames_without_stl_or_methods(tmp_path):
    with pytest.raises(ValueError, match="no 'stl' column; columns: STL, MTL"):
        reports.plot_change_vs_stl(pd.DataFrame({"STL": [0.1], "MTL": [0.2]}), tmp_path / "c.png")
    with pytest.raises(ValueError, match="only the 'stl' column"):
        reports.plot_change_vs_stl(pd.DataFrame({"stl": [0.1]}), tmp_path / "c.png")
    with pytest.raises(ValueError, match="DataFrame"):
        reports.plot_change_vs_stl({"stl": [0.1]}, tmp_path / "c.png")


def test_table1_markdown_sets_the_paper_beside_ours_with_differences():
    ours = {
        "stl": {"mean_pr_auc": 0.2301, "nt_pr_auc": None, "mean_roc_auc": 0.8, "nt_roc_auc": None},
        "lbtw:alpha=0.5": {"mean_pr_auc": 0.26, "nt_pr_auc": 40, "mean_roc_auc": 0.85, "nt_roc_auc": 14},
        "slaw": {"mean_pr_auc": 0.25, "nt_pr_auc": 44, "mean_roc_auc": 0.86, "nt_roc_auc": 12},
    }
    text = reports.table1_markdown(ours, paper.lbtw_summary())
    lines = text.splitlines()
    assert len(lines) == 2 + len(ours)
    assert lines[2] == "| `stl` | 0.230 | 0.232 | -0.002 | – | – | – | 0.800 | 0.799 | +0.001 | – | – | – |"
    assert lines[3] == (
        "| `lbtw:alpha=0.5` | 0.260 | 0.253 | +0.007 | 40 | 42 | -2 | 0.850 | 0.863 | -0.013 | 14 | 11 | +3 |"
    )
    assert lines[4] == "| `slaw` | 0.250 | – | – | 44 | – | – | 0.860 | – | – | 12 | – | – |"


def test_table1_markdown_without_the_paper_has_our_columns_only():
    text = reports.table1_markdown(
        {"constant": {"mean_pr_auc": 0.241, "nt_pr_auc": 48, "mean_roc_auc": 0.857, "nt_roc_auc": 13}}
    )
    assert text.splitlines()[0] == "| method | Mean PR AUC | # NT (PR AUC) | Mean ROC AUC | # NT (ROC AUC) |"
    assert text.splitlines()[2] == "| `constant` | 0.241 | 48 | 0.857 | 13 |"


def test_table1_markdown_names_missing_keys():
    with pytest.raises(ValueError, match=r"ours\['rmtl'\] is missing nt_pr_auc, nt_roc_auc"):
        reports.table1_markdown({"rmtl": {"mean_pr_auc": 0.2, "mean_roc_auc": 0.8}})
    with pytest.raises(ValueError, match="non-empty dict"):
        reports.table1_markdown({})


def test_loss_weight_error_plots_log_scale_up_to_max_step(tmp_path, saved_figures):
    steps = np.arange(0, 3000, 100)
    curves = {
        "slaw": [(s, 5.0 * np.exp(-s / 300) + 0.01) for s in steps],
        "gradnorm": [(s, 5.0 * np.exp(-s / 900) + 0.01) for s in steps],
        "ideal-constant": [(s, 0.0) for s in steps],
    }
    path = reports.plot_loss_weight_error(curves, tmp_path / "lwe.png", max_step=2000)
    assert png_size(path) == pixels((reports.PANEL_SIZE[0] + reports.LEGEND_WIDTH, reports.PANEL_SIZE[1]))
    (axis,) = saved_figures[0].axes
    assert axis.get_yscale() == "log"
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert set(lines) == {"slaw", "gradnorm", "ideal-constant (error 0, not drawn)"}
    assert lines["slaw"].get_xdata().max() == 2000  # steps up to and including max_step
    assert axis.get_xlim() == (0, 2000)


@pytest.mark.parametrize(
    "curves, named",
    [
        ({}, "non-empty dict"),
        ({"slaw": [(0, 1.0, 2.0)]}, "curve of 'slaw'"),
        ({"slaw": []}, "curve of 'slaw'"),
    ],
)
def test_loss_weight_error_rejects_bad_curves(tmp_path, curves, named):
    with pytest.raises(ValueError, match=named):
        reports.plot_loss_weight_error(curves, tmp_path / "lwe.png")
