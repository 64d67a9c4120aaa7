import json

import numpy as np
import pandas as pd
import pytest

from mtlperf.data.chembl_string import read_chembl_string

SMILES = ["CCCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "OC(=O)CCC(=O)O"]
ASSAYS = ["CHEMBL1613777", "CHEMBL1794345", "CHEMBL3214913"]


def _write_layout(root):
    """A tiny directory written the way the authors' chembl_gen.py writes theirs."""
    root.mkdir()
    labels = np.array([[1, -1, 0], [0, 1, -1], [-1, -1, 1], [1, 0, 0], [0, 1, 1]], dtype=np.int64)
    np.savez_compressed(root / "labels.npz", labels=labels)
    properties = pd.DataFrame(
        {
            "filteredID": [10, 11, 12, 13, 14],
            "chembl": [f"CHEMBL{k}" for k in range(5)],
            "clusterID": [3, 1, 4, 1, 5],
            "rawID": [100, 101, 102, 103, 104],
            "fold": [0, 2, 1, 0, 2],
            "smiles": SMILES,
            "scaffold_smiles": ["", "c1ccccc1", "c1ccccc1", "", ""],
        }
    )
    properties.reset_index().drop(columns="index").to_csv(root / "mol_properties.csv")  # unnamed index column first
    pd.Series(np.arange(3), index=ASSAYS).to_csv(root / "assay_id.tsv", sep="\t", header=None)
    (root / "filtered_task_score.tsv").write_text("0\t1\t0.9\n0\t2\t0.05\n1\t2\t0.4\n")
    return labels


def test_reads_the_authors_layout(tmp_path):
    raw = _write_layout(tmp_path / "chembl_dense_10")
    data = read_chembl_string(tmp_path / "chembl_dense_10")
    assert data.smiles == SMILES and data.task_names == ASSAYS and data.folds.tolist() == [0, 2, 1, 0, 2]
    assert data.labels.dtype == np.float32
    assert np.array_equal(np.isnan(data.labels), raw == 0)
    assert data.labels[raw == 1].tolist() == [1.0] * 6 and data.labels[raw == -1].tolist() == [0.0] * 4
    assert data.task_graph.task_names == tuple(ASSAYS) and data.task_graph.n_edges == 3
    assert data.task_graph.threshold(0.1).n_edges == 2


def test_assay_order_comes_from_the_index_column(tmp_path):
    root = tmp_path / "d"
    _write_layout(root)
    (root / "assay_id.tsv").write_text(f"{ASSAYS[2]}\t2\n{ASSAYS[0]}\t0\n{ASSAYS[1]}\t1\n")
    assert read_chembl_string(root).task_names == ASSAYS


@pytest.mark.parametrize("name", ["labels.npz", "mol_properties.csv", "assay_id.tsv", "filtered_task_score.tsv"])
def test_a_missing_file_is_named(tmp_path, name):
    root = tmp_path / "d"
    _write_layout(root)
    (root / name).unlink()
    with pytest.raises(ValueError, match=f"d: missing {name} \\(the ChEMBL-STRING layout"):
        read_chembl_string(root)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("labels.npz", b"not a zip", "labels.npz: not a readable .npz file"),
        ("labels.npz", "other", "labels.npz: no 'labels' array \\(found: y\\)"),
        ("labels.npz", "values", "labels.npz: a label is 2; labels must be \\+1 \\(active\\), -1 \\(inactive\\) or 0"),
        ("labels.npz", "shape", "labels.npz: labels must be a 2-D molecules x tasks array"),
        ("mol_properties.csv", ",smiles\n0,CCO\n", "mol_properties.csv: no 'fold' column"),
        ("mol_properties.csv", ",smiles,fold\n0,CCO,1\n", "mol_properties.csv: 1 molecules but labels.npz has 5"),
        ("mol_properties.csv", "fold", "mol_properties.csv: column 'fold' has a value 'x'; folds must be integ"),
        ("mol_properties.csv", "smiles", "mol_properties.csv: row 2 has an empty smiles cell"),
        ("assay_id.tsv", "CHEMBL1\t0\nCHEMBL2\n", "assay_id.tsv: line 2 is 'CHEMBL2'; expected '<assay id><TAB><task"),
        ("assay_id.tsv", "A\t0\nB\t0\nC\t2\n", "assay_id.tsv: line 2 repeats a task index"),
        ("assay_id.tsv", "A\t0\nB\t1\nC\t3\n", "assay_id.tsv: line 3 has task index 3 outside 0..2"),
        ("assay_id.tsv", "A\t0\nB\t1\n", "assay_id.tsv: 2 assays but labels.npz has 3 task columns"),
        ("filtered_task_score.tsv", "0\t1\n", "filtered_task_score.tsv: line 1 is '0\\\\t1'; expected"),
        ("filtered_task_score.tsv", "0\t5\t0.3\n", r"filtered_task_score.tsv: task pair \(0, 5\) out of range for 3"),
    ],
)
def test_a_damaged_file_is_one_line_naming_it(tmp_path, name, content, message):
    root = tmp_path / "d"
    _write_layout(root)
    path = root / name
    if content == "other":
        np.savez(path, y=np.zeros(3))
    elif content == "values":
        np.savez(path, labels=np.full((5, 3), 2))
    elif content == "shape":
        np.savez(path, labels=np.zeros(15))
    elif content in ("fold", "smiles"):
        table = pd.read_csv(path, index_col=0, keep_default_na=False).astype(str)
        table.loc[1, content] = "x" if content == "fold" else ""
        table.to_csv(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        read_chembl_string(root)
    assert "\n" not in str(error.value)


def test_not_a_directory(tmp_path):
    with pytest.raises(ValueError, match="absent: no such directory"):
        read_chembl_string(tmp_path / "absent")


def _write_trainable_layout(root, n_molecules=80, n_tasks=4):
    """A made directory big enough to split and train: simple chains and rings, random ±1/0 labels."""
    root.mkdir()
    rng = np.random.default_rng(0)
    smiles = [
        ("C" * (1 + k % 9)) + ["O", "N", "S", "C(=O)O"][k % 4] + ("c1ccccc1" if k % 3 == 0 else "")
        for k in range(n_molecules)
    ]
    labels = rng.choice([-1, 0, 1], size=(n_molecules, n_tasks), p=[0.45, 0.2, 0.35]).astype(np.int64)
    np.savez_compressed(root / "labels.npz", labels=labels)
    pd.DataFrame({"fold": np.arange(n_molecules) % 3, "smiles": smiles}).to_csv(root / "mol_properties.csv")
    (root / "assay_id.tsv").write_text("".join(f"CHEMBL{100 + t}\t{t}\n" for t in range(n_tasks)))
    (root / "filtered_task_score.tsv").write_text("0\t1\t0.9\n1\t2\t0.3\n2\t3\t0.05\n")
    return labels


def test_load_dataset_reads_a_directory_in_the_layout_as_graphs_with_its_task_graph(tmp_path):
    from mtlperf.data import load_dataset
    from mtlperf.data.graphs import PackedGraphs

    raw = _write_trainable_layout(tmp_path / "chembl_dense_made")
    data = load_dataset(tmp_path / "chembl_dense_made", n_tasks=3, cache=False)
    assert isinstance(data.inputs, PackedGraphs) and data.task_names == ["CHEMBL100", "CHEMBL101", "CHEMBL102"]
    assert data.meta["task_graph"].n_tasks == 3 and data.meta["task_graph"].n_edges == 2
    kept = (raw[:, :3] != 0).any(axis=1)
    assert len(data) == int(kept.sum()) and np.array_equal(np.isnan(data.labels), raw[kept][:, :3] == 0)


def test_a_made_chembl_string_directory_trains_end_to_end_from_the_command_line(tmp_path, capsys):
    from mtlperf.cli import main

    _write_trainable_layout(tmp_path / "chembl_dense_made")
    out = tmp_path / "run.json"
    argv = ["train", "--dataset", str(tmp_path / "chembl_dense_made"), "--model", "gin", "--hidden", "16,16"]
    argv += ["--epochs", "2", "--batch-size", "16", "--method", "lbtw", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["n_tasks"] == 4 and set(result["test"]["pr_auc"]) == {f"CHEMBL{100 + t}" for t in range(4)}


def test_a_damaged_file_of_a_directory_is_one_line_from_the_command_line(tmp_path, capsys):
    from mtlperf.cli import main

    _write_trainable_layout(tmp_path / "chembl_dense_made")
    (tmp_path / "chembl_dense_made" / "labels.npz").write_bytes(b"PK\x03\x04 not really")
    code = main(["train", "--dataset", str(tmp_path / "chembl_dense_made"), "--model", "gin", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "labels.npz" in err
