import dataclasses

import pytest

import mtlperf.reproduce_sgnn_ebm as study
from mtlperf.config import PRESETS
from mtlperf.reproduce_sgnn_ebm import ROWS, TABLES, paper_columns, paper_value, reproduce_sgnn_ebm, study_rows

TINY = PRESETS["sgnn-ebm"].replace(epochs=1, batch_size=16, hidden=(8, 8), task_dim=4, state_dim=4, device="cpu")
ROWS_RUN = ["MTL", "SGNN", "SGNN-EBM-fixed"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def test_the_study_writes_its_rows_and_a_rerun_trains_nothing(dataset, tmp_path, monkeypatch):
    summary = reproduce_sgnn_ebm(dataset, 2, tmp_path, rows=ROWS_RUN, base=TINY, progress=False)
    assert list(summary["rows"]) == ROWS_RUN and not summary["compared_with_paper"]
    assert all(row["n_seeds"] == 2 and len(row["roc_auc"]["seeds"]) == 2 for row in summary["rows"].values())
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        f"{name}__seed{k}.json" for name in ROWS_RUN for k in range(2)
    )
    assert set(summary["claims"]) == {"SGNN above the weighting baselines", "SGNN-EBM (fixed) above SGNN"}
    assert "| `SGNN-EBM-fixed` |" in (tmp_path / "table.md").read_text()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(study, "train", refuse)
    monkeypatch.setattr(study, "train_sgnn_ebm", refuse)
    again = reproduce_sgnn_ebm(dataset, 2, tmp_path, rows=ROWS_RUN, base=TINY, progress=False)
    assert again["rows"] == summary["rows"]


def test_a_failing_row_is_recorded_and_the_others_finish(dataset, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(study, "train_sgnn_ebm", fail)
    summary = reproduce_sgnn_ebm(dataset, 1, tmp_path, rows=["MTL", "SGNN-EBM-fixed"], base=TINY, progress=False)
    assert summary["rows"]["MTL"]["n_seeds"] == 1
    assert summary["rows"]["SGNN-EBM-fixed"]["failures"] == {"0": "RuntimeError: out of memory"}
    assert "seed 0: failed: RuntimeError: out of memory" in (tmp_path / "table.md").read_text()


def test_tables_share_their_common_rows_and_unknown_names_are_refused():
    assert study_rows([2, 3, 4]).count("SGNN-EBM-fixed") == 1 and study_rows([2, 4]).count("SGNN-EBM-adaptive") == 1
    assert study_rows([4]) == list(TABLES[4])
    with pytest.raises(ValueError, match="unknown tables \\[5\\]; valid: 2, 3, 4"):
        study_rows([5])
    with pytest.raises(ValueError, match="unknown rows \\['SGNN-EMB'\\]; valid: STL, MTL"):
        study_rows([2], ["SGNN-EMB"])


def test_every_row_of_the_three_tables_finds_its_paper_number(dataset):
    for table in TABLES.values():
        for name in table:
            assert paper_value(ROWS[name], "chembl_string_10") is not None, name
    assert paper_value(ROWS["SGNN-EBM-adaptive"], "chembl_string_100") == {"mean": 81.15, "std": 0.59}
    assert paper_value(ROWS["SGNN-EBM-adaptive-L4"], "chembl_string_50") == {"mean": 80.42, "std": 0.82}
    assert paper_value(ROWS["SGNN-EBM-fixed-LBTW"], "chembl_string_10") == {"mean": 76.16, "std": 0.54}


def test_the_paper_stands_beside_ours_only_on_its_own_data(dataset):
    assert paper_columns(dataset) is None
    like = dataclasses.replace(dataset, name="chembl_dense_50")
    assert paper_columns(like) is None  # 4 tasks, not the paper's 152
    monkeypatched = type("D", (), {"name": "chembl_dense_50", "n_tasks": 152})()
    assert paper_columns(monkeypatched) == "chembl_string_50"


def test_a_claim_holds_only_beyond_two_standard_errors_of_the_per_seed_differences():
    def row(*seeds, failures=None):
        return {
            "n_seeds": len(seeds),
            "roc_auc": {"mean": sum(seeds) / len(seeds), "seeds": list(seeds)},
            "failures": failures or {},
        }

    def claim(sgnn, lbtw):
        return study.claims({"SGNN": sgnn, "LBTW": lbtw})["SGNN above the weighting baselines"]

    # seed-to-seed spread 3 points, SGNN 1 point above on every split: paired, it holds
    assert claim(row(80, 83, 77, 81), row(79, 82, 76, 80))["verdict"] == "holds"
    assert claim(row(80, 83, 77, 81), row(79, 82, 79, 80))["verdict"] == "unresolved"
    assert claim(row(78, 81, 75, 79), row(79, 82, 76, 80))["verdict"] == "reversed"
    unpaired = claim(row(80, 83, 77), row(79, 82, 76, 80, failures={3: "diverged"}))
    assert not unpaired["paired"] and unpaired["verdict"] == "unresolved"
