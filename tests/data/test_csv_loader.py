"""Loading multi-task CSVs and the embedded data sets into MultiTaskDataset."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest

from mtlperf.data import MultiTaskDataset, PackedFingerprints, list_datasets, load_dataset
from mtlperf.data.csv_loader import read_task_csv

CSV = """t2,smiles,mol_id,t1,t3
1,CCO,m1,0,
,c1ccccc1O,m2,1,0
0,CC(=O)Nc1ccc(O)cc1,m3,,
,CCN,m4,,
1,not_a_smiles,m5,0,1
"""


def write(path, text):
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("filename", ["small.csv", "small.csv.gz"])
def test_columns_found_by_name_in_any_order(tmp_path, filename):
    table = read_task_csv(write(tmp_path / filename, CSV))
    assert table.task_names == ["t2", "t1", "t3"]
    assert table.smiles[:2] == ["CCO", "c1ccccc1O"]
    assert table.mol_ids == ["m1", "m2", "m3", "m4", "m5"]
    nan = np.nan
    expected = np.array([[1, 0, nan], [nan, 1, 0], [0, nan, nan], [nan, nan, nan], [1, 0, 1]], dtype=np.float32)
    np.testing.assert_array_equal(table.labels, expected)
    assert table.labels.dtype == np.float32


def test_float_labels_and_no_mol_id(tmp_path):
    table = read_task_csv(write(tmp_path / "f.csv", "smiles,a,b\nCCO,1.0,0.0\nCCN,,1.0\n"))
    assert table.mol_ids is None
    np.testing.assert_array_equal(table.labels, [[1, 0], [np.nan, 1]])


@pytest.mark.parametrize("filename", ["odd.csv", "odd.csv.gz"])
def test_windows_line_endings_bom_float_labels_and_blank_lines_load(tmp_path, filename):
    path = tmp_path / filename
    text = "\ufeffsmiles,a,b\r\nCCO,1.0,0.0\r\n\r\nCCN,,1.0\r\n  \r\nCCC,0,\r\n"
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if filename.endswith(".gz") else data)
    table = read_task_csv(path)
    assert table.task_names == ["a", "b"] and table.smiles == ["CCO", "CCN", "CCC"]
    np.testing.assert_array_equal(table.labels, [[1, 0], [np.nan, 1], [0, np.nan]])


def test_gzip_is_found_by_content_not_name(tmp_path):
    path = tmp_path / "really-gzipped.csv"
    path.write_bytes(gzip.compress(b"smiles,a\nCCO,1\n"))
    assert read_task_csv(path).labels.tolist() == [[1.0]]


def test_quoted_cells_load_with_commas_inside(tmp_path):
    table = read_task_csv(write(tmp_path / "q.csv", 'smiles,mol_id,"a"\n"CCO","m,1",1\nCCN,m2,"0"\n'))
    assert table.smiles == ["CCO", "CCN"] and table.mol_ids == ["m,1", "m2"]
    assert table.labels.tolist() == [[1.0], [0.0]]


def test_blank_smiles_are_counted_with_the_invalid_ones(tmp_path):
    data = load_dataset(str(write(tmp_path / "blank.csv", "smiles,a\nCCO,1\n,0\nnot_a_smiles,1\nCCN,0\n")), cache=False)
    assert data.smiles == ["CCO", "CCN"] and data.labels[:, 0].tolist() == [1.0, 0.0]
    assert data.meta["invalid_smiles"] == {"count": 2, "examples": ["", "not_a_smiles"]}


def test_missing_smiles_column_is_one_line_error_naming_file(tmp_path):
    path = write(tmp_path / "nosmiles.csv", "mol_id,a\nm1,1\n")
    with pytest.raises(ValueError, match=r"nosmiles\.csv: no 'smiles' column") as error:
        read_task_csv(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", ["2", "0.5", "yes"])
def test_bad_label_names_column_and_value(tmp_path, bad):
    path = write(tmp_path / "bad.csv", f"smiles,good,worse\nCCO,1,0\nCCN,0,{bad}\n")
    with pytest.raises(ValueError, match=rf"bad\.csv: column 'worse' has a label '?{bad}'? on line 3"):
        read_task_csv(path)


def test_too_few_task_columns(tmp_path):
    path = write(tmp_path / "few.csv", CSV)
    with pytest.raises(ValueError, match=r"few\.csv: n_tasks=4 .* only 3 task columns"):
        read_task_csv(path, n_tasks=4)
    assert read_task_csv(path, n_tasks=2).task_names == ["t2", "t1"]


def test_csv_path_dataset_drops_invalid_and_unlabelled(tmp_path, caplog):
    path = write(tmp_path / "small.csv.gz", CSV)
    with caplog.at_level(logging.WARNING):
        data = load_dataset(str(path), cache=False)
    assert data.meta["invalid_smiles"] == {"count": 1, "examples": ["not_a_smiles"]}
    assert "1 invalid SMILES" in caplog.text and "not_a_smiles" in caplog.text
    assert data.meta["dropped_unlabelled"] == 1  # CCN has no label at all
    assert data.smiles == ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    assert data.name == "small" and data.task_type == "classification"
    assert isinstance(data.inputs, PackedFingerprints) and len(data.inputs) == 3 == data.labels.shape[0]


def test_task_subset_drops_rows_unlabelled_in_kept_tasks(tmp_path):
    data = load_dataset(str(write(tmp_path / "s.csv", CSV)), n_tasks=1, cache=False)
    assert data.task_names == ["t2"]
    assert data.smiles == ["CCO", "CC(=O)Nc1ccc(O)cc1"]
    np.testing.assert_array_equal(data.labels[:, 0], [1, 0])


def test_invalid_smiles_never_crash_even_when_all_are_bad(tmp_path):
    data = load_dataset(str(write(tmp_path / "bad.csv", "smiles,a\nxx,1\n,0\nC1CC,1\n")), cache=False)
    assert len(data) == 0 and data.meta["invalid_smiles"]["count"] == 3


@pytest.fixture(scope="module")
def tox21_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_embedded_tox21(tox21_cache):
    data = load_dataset("tox21", cache_dir=tox21_cache)
    assert isinstance(data, MultiTaskDataset)
    assert data.n_tasks == 12 and data.task_names[0] == "NR-AR" and data.task_names[-1] == "SR-p53"
    assert data.meta["invalid_smiles"]["count"] == 8  # 8 aluminium compounds RDKit rejects
    assert len(data) == 8014 - 8 == data.labels.shape[0] == len(data.smiles) == len(data.inputs)
    assert data.labels.shape == (8006, 12) and data.inputs.n_bits == 2048 and data.n_inputs == 2048
    labelled = ~np.isnan(data.labels)
    assert 0.80 < labelled.mean() < 0.85 and set(np.unique(data.labels[labelled])) == {0.0, 1.0}
    assert 20 < data.inputs.bits_per_row().mean() < 80


def test_tox21_subset_and_slaw_filter(tox21_cache):
    full = load_dataset("tox21", cache_dir=tox21_cache)
    three = load_dataset("tox21", n_tasks=3, cache_dir=tox21_cache)
    assert three.task_names == full.task_names[:3]
    keep = ~np.isnan(full.labels[:, :3]).all(axis=1)
    assert len(three) == keep.sum() and three.meta["dropped_unlabelled"] == (~keep).sum() > 0
    np.testing.assert_array_equal(three.labels, full.labels[keep, :3])
    np.testing.assert_array_equal(three.inputs.dense([0, 5]), full.inputs.dense(np.flatnonzero(keep)[[0, 5]]))
    # SLAW's filter looks at the first 32 tasks: all 12 here, whatever n_tasks is.
    filtered = load_dataset("tox21", n_tasks=3, slaw_filter=True, cache_dir=tox21_cache)
    assert len(filtered) == len(three) and filtered.meta["slaw_filter"] is True


def test_slaw_filter_uses_first_32_tasks_not_just_kept(tmp_path):
    header = ",".join(f"t{i}" for i in range(40))
    rows = [
        "CCO," + ",".join(["1"] + [""] * 39),  # labelled in task 0 only
        "CCN," + ",".join([""] * 35 + ["1"] + [""] * 4),  # labelled in task 35 only
        "CCC," + ",".join([""] * 20 + ["0"] + [""] * 19),
    ]  # labelled in task 20 only
    path = write(tmp_path / "wide.csv", f"smiles,{header}\n" + "\n".join(rows) + "\n")
    assert load_dataset(str(path), cache=False).smiles == ["CCO", "CCN", "CCC"]
    assert load_dataset(str(path), slaw_filter=True, cache=False).smiles == ["CCO", "CCC"]
    one = load_dataset(str(path), n_tasks=1, slaw_filter=True, cache=False)
    assert one.smiles == ["CCO"] and one.task_names == ["t0"]


def test_unknown_names_and_options():
    valid = "tox21, muv, toxcast, pcba, synthetic-pcba, mtregression"
    with pytest.raises(ValueError, match=f"unknown dataset 'tox22'; valid: {valid}"):
        load_dataset("tox22")
    with pytest.raises(ValueError, match="unknown option.*radios.*accepted: .*radius"):
        load_dataset("tox21", radios=2)
    assert list_datasets() == ["tox21", "muv", "toxcast", "pcba", "synthetic-pcba", "mtregression"]
    with pytest.raises(ValueError, match="n_tasks=13 .* only 12"):
        load_dataset("tox21", n_tasks=13, cache=False)
