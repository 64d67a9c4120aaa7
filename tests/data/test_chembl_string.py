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
