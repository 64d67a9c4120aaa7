import numpy as np
import pytest

from mtlperf.data.densify import densify
from mtlperf.data.task_graph import task_graph

N = np.nan
LABELS = np.array(
    [
        [1, 0, N],
        [0, 1, N],
        [1, N, N],  # one label: out in round 1
        [0, N, 1],  # two labels, one on task 2, which goes in round 1: out in round 2
        [N, N, 0],
    ],
    dtype=np.float32,
)


def test_rounds_repeat_until_nothing_changes():
    kept = densify(LABELS, threshold=2, min_per_class=1)
    assert kept.rows.tolist() == [0, 1] and kept.tasks.tolist() == [0, 1]
    assert densify(LABELS, threshold=1, min_per_class=1).tasks.tolist() == [0, 1, 2]


def test_tasks_need_enough_of_each_class():
    assert densify(LABELS, threshold=0, min_per_class=2).tasks.tolist() == [0]  # task 0: 2 positives, 2 negatives
    assert densify(LABELS, threshold=0).tasks.size == 0  # the paper's 10 of each


def test_isolated_tasks_go_first():
    graph = task_graph(["a", "b", "c"], [[0, 1]])
    kept = densify(LABELS, threshold=1, graph=graph, min_per_class=1)
    assert kept.tasks.tolist() == [0, 1] and kept.rows.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threshold": -1}, "threshold must be a non-negative integer, got -1"),
        ({"threshold": 2, "min_per_class": 1.5}, "min_per_class must be a non-negative integer, got 1.5"),
        ({"threshold": 2, "graph": task_graph(["a", "b"], [[0, 1]])}, "the task graph has 2 tasks but labels have 3"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        densify(LABELS, **kwargs)


def test_densified_stats_count_what_survives_and_its_labelled_share():
    from mtlperf.data.densify import densified_stats

    labels = np.full((4, 3), np.nan)
    labels[:3, :2] = [[1, 0], [0, 1], [1, 1]]
    labels[3, 2] = 1  # a molecule with one label: dropped at threshold 2, and its task with it
    assert densified_stats(labels, 2, min_per_class=1) == {
        "threshold": 2, "molecules": 3, "tasks": 2, "labelled_pct": 100.0
    }  # fmt: skip
    assert densified_stats(labels, 2) == {"threshold": 2, "molecules": 0, "tasks": 0, "labelled_pct": None}


def test_data_densify_prints_toxcast_beside_the_papers_table_1(capsys):
    from mtlperf.cli import main

    assert main(["data", "densify", "--dataset", "toxcast", "--thresholds", "10,50"]) == 0
    out = capsys.readouterr().out
    assert "| 10 | " in out and "| 13,004 | 382 | 5.76 |" in out and "| 932 | 152 | 66.70 |" in out


def test_data_densify_refuses_an_unknown_dataset(capsys):
    from mtlperf.cli import main

    assert main(["data", "densify", "--dataset", "muv"]) == 2
    assert "valid: toxcast, tox21" in capsys.readouterr().err
