"""The study on a directory in the authors' ChEMBL-STRING layout puts the paper's Table 2 beside ours."""

import json

import numpy as np
import pandas as pd

from mtlperf.cli import main
from mtlperf.paper import load_table

TASKS = 152  # chembl_dense_50 of SGNN-EBM Table 1
SMILES = ["CCO", "c1ccccc1C(=O)N", "CC#N", "O=C(O)CCC(N)C(=O)O", "CCN(CC)CC", "c1ccncc1", "CC(C)O", "OCCO"] * 8


def _write_chembl_dense_50(root):
    root.mkdir()
    rng = np.random.default_rng(0)
    labels = rng.choice([-1, 0, 1], size=(len(SMILES), TASKS), p=[0.4, 0.2, 0.4]).astype(np.int64)
    np.savez_compressed(root / "labels.npz", labels=labels)
    properties = pd.DataFrame({"smiles": SMILES, "fold": np.arange(len(SMILES)) % 3})
    properties.to_csv(root / "mol_properties.csv")
    pd.Series(np.arange(TASKS), index=[f"CHEMBL{k}" for k in range(TASKS)]).to_csv(
        root / "assay_id.tsv", sep="\t", header=None
    )
    (root / "filtered_task_score.tsv").write_text("".join(f"{i}\t{i + 1}\t0.5\n" for i in range(TASKS - 1)))


def test_the_study_on_the_authors_layout_sets_the_paper_beside_ours(tmp_path, one_thread):
    _write_chembl_dense_50(tmp_path / "chembl_dense_50")
    out = tmp_path / "study"
    args = ["reproduce", "sgnn-ebm", "--dataset", str(tmp_path / "chembl_dense_50"), "--rows", "MTL;SGNN"]
    args += ["--seeds", "1", "--epochs", "1", "--preset", "sgnn-ebm-cpu", "--out", str(out), "--quiet"]
    assert main(args) == 0
    summary = json.loads((out / "table.json").read_text())
    table2 = load_table("sgnn_ebm_table2_roc_auc").set_index("method")
    assert summary["compared_with_paper"]
    assert summary["rows"]["SGNN"]["paper"]["mean"] == table2.loc["SGNN", "chembl_string_50_mean"]
    assert f"| {table2.loc['SGNN', 'chembl_string_50_mean']:.2f} ± " in (out / "table.md").read_text()
