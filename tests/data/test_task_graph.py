import numpy as np
import pytest

from mtlperf.data.task_graph import (
    TaskGraph,
    embedded_target_graph,
    embedded_targets,
    read_protein_scores,
    read_target_table,
    read_task_scores,
    target_graph,
    task_graph,
)

NAMES = ["a", "b", "c", "d"]


def test_pairs_become_sorted_edges_in_both_directions_keeping_the_highest_weight():
    graph = task_graph(NAMES, [[2, 0], [0, 1], [0, 2]], [0.3, 0.5, 0.9])
    assert graph.edge_index.tolist() == [[0, 1, 0, 2], [1, 0, 2, 0]]
    assert graph.weights.tolist() == pytest.approx([0.5, 0.5, 0.9, 0.9])
    assert graph.n_edges == 2 and graph.degrees().tolist() == [2, 1, 1, 0]
    pairs, weights = graph.pairs()
    assert pairs.tolist() == [[0, 1], [0, 2]] and weights.tolist() == pytest.approx([0.5, 0.9])
    assert task_graph(NAMES, [[1, 0], [0, 1]]).edge_index.tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize(
    "pairs, weights, message",
    [
        ([[0, 4]], None, r"task pair \(0, 4\) out of range for 4 tasks \(indices 0..3\)"),
        ([[2, 2]], None, r"task pair \(2, 2\) joins a task to itself"),
        ([[0, 1]], [0.1, 0.2], "1 task pairs but 2 weights"),
        ([[0, 1]], [float("nan")], "weights must be finite"),
    ],
)
def test_bad_pairs_are_named(pairs, weights, message):
    with pytest.raises(ValueError, match=message):
        task_graph(NAMES, pairs, weights)


def test_stats_threshold_and_subgraph():
    graph = task_graph(NAMES, [[0, 1], [1, 2]], [0.05, 0.8])
    assert graph.stats() == {
        "n_tasks": 4,
        "n_edges": 2,
        "n_isolated": 1,
        "n_components": 2,
        "degree": {"min": 0, "mean": 1.0, "median": 1.0, "max": 2},
        "weight": {"min": pytest.approx(0.05), "max": pytest.approx(0.8)},
    }
    strong = graph.threshold(0.1)
    assert strong.pairs()[0].tolist() == [[1, 2]] and strong.stats()["n_components"] == 3
    sub = graph.subgraph([2, 1, 3])
    assert sub.task_names == ("c", "b", "d") and sub.pairs()[0].tolist() == [[0, 1]]
    assert sub.weights.tolist() == pytest.approx([0.8, 0.8])
    with pytest.raises(ValueError, match="threshold needs a weighted graph"):
        task_graph(NAMES, [[0, 1]]).threshold(0.1)
    with pytest.raises(ValueError, match="edge_index must be"):
        TaskGraph(("a", "b"), np.zeros((2, 3), dtype=np.int64))


def test_authors_score_file(tmp_path):
    path = tmp_path / "filtered_task_score.tsv"
    path.write_text("0\t1\t0.9\n1\t3\t0.05\n0\t2\t0.4\n")
    graph = read_task_scores(path, NAMES)
    assert graph.pairs()[0].tolist() == [[0, 1], [0, 2], [1, 3]]
    assert graph.threshold(0.1).n_edges == 2  # the authors' string_threshold 0.1 drops score < 0.1
    path.write_text("0\t1\t0.9\n1\tx\t0.05\n")
    with pytest.raises(ValueError, match=r"filtered_task_score.tsv: line 2 is '1\\tx\\t0.05'; expected"):
        read_task_scores(path, NAMES)
    path.write_text("0\t7\t0.9\n")
    with pytest.raises(ValueError, match=r"filtered_task_score.tsv: task pair \(0, 7\) out of range for 4 tasks"):
        read_task_scores(path, NAMES)
    with pytest.raises(ValueError, match="no such file"):
        read_task_scores(tmp_path / "absent.tsv", NAMES)


def test_target_graph_takes_the_highest_protein_score_and_relates_shared_targets():
    targets = {"a": ["P1"], "b": ["P2"], "c": ["P1", "P3"], "d": []}
    scores = {("P1", "P2"): 0.4, ("P2", "P1"): 0.4, ("P2", "P3"): 0.7, ("P3", "P2"): 0.7}
    graph = target_graph(NAMES, targets, scores)
    pairs, weights = graph.pairs()
    assert dict(zip(map(tuple, pairs.tolist()), weights.tolist())) == pytest.approx(
        {(0, 1): 0.4, (0, 2): 0.7, (1, 2): 0.7}  # a-c share P1: the highest score there is
    )
    authors = target_graph(NAMES, targets, scores, same_target_score=0.0)
    assert (0, 2) not in map(tuple, authors.pairs()[0].tolist())  # step_03.py gives a shared protein 0
    plain = target_graph(NAMES, targets)
    assert plain.pairs()[0].tolist() == [[0, 2]] and plain.weights.tolist() == [1.0, 1.0]


def test_string_layout_scores_with_their_scale(tmp_path):
    path = tmp_path / "links.txt"
    path.write_text("protein1 protein2 combined_score\nAR ESR1 400\nESR1 AR 400\nAR TP53 950\n")
    scores = read_protein_scores(path)
    assert scores[("AR", "ESR1")] == pytest.approx(0.4) and scores[("TP53", "AR")] == pytest.approx(0.95)
    assert read_protein_scores(path, scale=1.0)[("AR", "TP53")] == 950
    with pytest.raises(ValueError, match="links.txt: no 'experimental' column"):
        read_protein_scores(path, score_column="experimental")
    path.write_text("protein1 protein2 combined_score\nAR ESR1 high\n")
    with pytest.raises(ValueError, match="column 'combined_score' has a value 'high' that is not a number"):
        read_protein_scores(path)


def test_embedded_tox21_graph_relates_the_receptor_and_its_ligand_binding_domain():
    graph = embedded_target_graph("tox21")
    names = graph.task_names
    related = {(names[i], names[j]) for i, j in graph.pairs()[0].tolist()}
    assert graph.n_tasks == 12 and related == {("NR-AR", "NR-AR-LBD"), ("NR-ER", "NR-ER-LBD")}
    assert embedded_targets("tox21")["SR-MMP"] == ()


def test_embedded_toxcast_graph_is_in_the_csv_task_order():
    from mtlperf.data.csv_loader import read_header
    from mtlperf.data.pcba import EMBEDDED

    tasks = read_header(EMBEDDED / "toxcast_data.csv.gz")[2]
    graph = embedded_target_graph("toxcast", tasks)
    targets = embedded_targets("toxcast")
    assert graph.n_tasks == 617 and sum(bool(v) for v in targets.values()) == 453
    assert targets["ATG_AR_TRANS_dn"] == ("AR",)  # four ortholog ids, one symbol
    i, j = graph.pairs()[0][0]
    assert set(targets[tasks[i]]) & set(targets[tasks[j]])
    first = embedded_target_graph("toxcast", tasks[:32])
    assert first.task_names == tuple(tasks[:32])
    with pytest.raises(ValueError, match="1 task\\(s\\) not in the tox21 target table, e.g. NR-XYZ"):
        embedded_target_graph("tox21", ["NR-AR", "NR-XYZ"])
    with pytest.raises(ValueError, match="no embedded target table for 'muv'; available: toxcast, tox21"):
        embedded_targets("muv")


def test_target_table_errors_name_the_file(tmp_path):
    path = tmp_path / "targets.tsv"
    path.write_text("task\tgene\nx\tAR\n")
    with pytest.raises(ValueError, match="targets.tsv: no 'gene_symbol' column"):
        read_target_table(path)
    path.write_text("task\tgene_symbol\nx\tAR\nx\tESR1\n")
    with pytest.raises(ValueError, match="task 'x' appears twice"):
        read_target_table(path)
