"""Bad input through the command line: one line on stderr, exit 2, before any work, nothing left behind."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

import mtlperf.accuracy
import mtlperf.cli
import mtlperf.reproduce
import mtlperf.scaling
from mtlperf.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1O", "CC(=O)O", "CCCl", "CCBr", "OCCO", "CC(C)O", "c1ccncc1"]
GOOD = "smiles,t1,t2\n" + "".join(f"{s},{i % 2},{(i // 2) % 2}\n" for i, s in enumerate(SMILES))


class WorkStarted(AssertionError):
    """Raised by the stand-ins of everything that trains, times or loads: the check came too late."""


class _Stop(Exception):
    """Raised by the stand-in of ``train`` once it has seen the dataset it was given."""


def _stop():
    raise _Stop


def _refuse(what):
    def refuse(*args, **kwargs):
        raise WorkStarted(f"{what} was called: the bad input was not caught before the work")

    return refuse


@pytest.fixture
def no_work(monkeypatch):
    """Training, timing and the sweeps fail the test if the command reaches them."""
    monkeypatch.setattr(mtlperf.cli, "train", _refuse("train"))
    monkeypatch.setattr(mtlperf.cli, "run_scaling", _refuse("run_scaling"))
    monkeypatch.setattr(mtlperf.reproduce, "run_sweep", _refuse("reproduce.run_sweep"))
    monkeypatch.setattr(mtlperf.accuracy, "run_sweep", _refuse("accuracy.run_sweep"))


@pytest.fixture
def no_loading(no_work, monkeypatch):
    """As ``no_work``, and loading any data fails the test too (output paths are checked first)."""
    monkeypatch.setattr(mtlperf.cli, "load_dataset", _refuse("load_dataset"))
    monkeypatch.setattr(mtlperf.reproduce, "load_dataset", _refuse("load_dataset"))
    monkeypatch.setattr(mtlperf.accuracy, "load_dataset", _refuse("load_dataset"))


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def assert_one_line_error(argv, capsys, *needles):
    """Run ``mtlperf argv``; it must exit 2 with one line on stderr that holds every needle."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("mtlperf") and "Traceback" not in err
    for needle in needles:
        assert needle in err
    return err.strip()


# --- bad CSV files ------------------------------------------------------------------------------

_BIG = ("smiles,t1,t2\n" + "CCO,1,0\n" * 20000).encode()
BAD_FILES = {
    "truncated.csv.gz": (gzip.compress(_BIG)[:200], "damaged gzip file"),
    "corrupt.csv.gz": (gzip.compress(_BIG)[:40] + b"\xff" * 40 + gzip.compress(_BIG)[80:], "damaged gzip file"),
    "gzipped-but-named.csv": (gzip.compress(_BIG)[:200], "damaged gzip file"),
    "latin1.csv": ("smiles,t1\nCCO,1\nCCO,0 café\n".encode("latin-1"), "line 3 is not UTF-8 text"),
    "utf16.csv": ("smiles,t1\nCCO,1\n".encode("utf-16"), "line 1 is not UTF-8 text"),
    "empty.csv": (b"", "empty file"),
    "blank.csv": (b"\n\n", "the first line (the header) is blank"),
    "header-only.csv": (b"smiles,t1,t2\n", "no data rows, only a header"),
    "header-only.csv.gz": (gzip.compress(b"smiles,t1,t2\r\n\r\n"), "no data rows, only a header"),
    "short-row.csv": (b"smiles,t1,t2\nCCO,1,0\nCCN,1\nCCC,0,1\n", "line 3 has 2 cells, the header has 3"),
    "long-row.csv": (b"smiles,t1,t2\nCCO,1,0\n\nCCN,1,0,1\n", "line 4 has 4 cells, the header has 3"),
    "trailing-commas.csv": (b"smiles,t1\nCCO,1,\nCCN,0,\n", "line 2 has 3 cells, the header has 2"),
    "bare-smiles.csv": (b"smiles,t1\nCCO,1\nCCN\n", "line 3 has 1 cell, the header has 2"),
    "quoted-short-row.csv": (b'smiles,t1,t2\n"CCO",1,0\n"CCN",1\n', "line 3 has 2 cells, the header has 3"),
    "duplicated-task.csv": (b"smiles,t1,t2,t1\nCCO,1,0,1\n", "column 't1' appears twice in the header"),
    "pandas-index.csv": (b",smiles,t1\n0,CCO,1\n1,CCN,0\n", "column 1 of the header has no name"),
    "label-2.csv": (b"smiles,t1,t2\nCCO,1,0\n\nCCN,0,2\n", "column 't2' has a label '2' on line 4"),
    "label-text.csv": (b"smiles,t1\nCCO,yes\n", "column 't1' has a label 'yes' on line 2"),
    "label-half.csv.gz": (gzip.compress(b"smiles,t1\nCCO,1.0\nCCN,0.5\n"), "column 't1' has a label '0.5' on line 3"),
    "no-smiles.csv": (b"mol_id,t1\nm1,1\n", "no 'smiles' column (found: mol_id, t1)"),
    "no-tasks.csv": (b"smiles,mol_id\nCCO,m1\n", "no task columns"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_csv_is_one_line_naming_the_file_and_nothing_is_trained_or_written(name, tmp_path, capsys, no_work):
    data, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    out, cache = tmp_path / "out" / "result.json", tmp_path / "cache"
    argv = ["train", "--dataset", str(path), "--epochs", "1", "--cache-dir", str(cache), "--out", str(out), "--quiet"]
    assert_one_line_error(argv, capsys, f"{path}: {message}")
    assert _files(tmp_path) == [name]


def test_an_unreadable_csv_is_one_line(tmp_path, capsys, no_work):
    path = tmp_path / "locked.csv"
    path.write_text(GOOD)
    path.chmod(0)
    if _readable(path):  # root reads anything: take a file no one can read, whose read fails with EIO
        path = Path("/proc/self/mem")
        if not path.is_file() or _readable(path):
            pytest.skip("no unreadable file here")
    assert_one_line_error(["train", "--dataset", str(path)], capsys, f"{path}: cannot read it (")


def _readable(path) -> bool:
    try:
        path.read_bytes()
        return True
    except OSError:
        return False


NOT_JSON = [b'{"results": [', b'{"a": "\xe9"}']


@pytest.mark.parametrize("content", NOT_JSON)
def test_gate_files_that_are_not_json_are_one_line_naming_the_file(content, tmp_path, capsys):
    path = tmp_path / "scaling.json"
    path.write_bytes(content)
    assert_one_line_error(
        ["gate", "--baseline", str(path), "--current", str(path)], capsys, f"baseline file {path} is not valid JSON"
    )


@pytest.mark.parametrize("content", NOT_JSON)
def test_scaling_reads_its_accuracy_file_before_timing(content, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(mtlperf.scaling, "measure", _refuse("scaling.measure"))
    path = tmp_path / "accuracy.json"
    path.write_bytes(content)
    argv = [*DIR_COMMANDS["scaling"], "--accuracy", str(path), "--out", str(tmp_path / "out")]
    assert_one_line_error(argv, capsys, f"{path} is not an accuracy.json")
    assert _files(tmp_path) == ["accuracy.json"]


@pytest.mark.parametrize("command", [["reproduce", "lbtw"], ["accuracy", "--tasks", "1"]])
def test_the_sweeps_read_csv_files_the_same_way(command, tmp_path, capsys, no_work):
    path = tmp_path / "truncated.csv.gz"
    path.write_bytes(BAD_FILES["truncated.csv.gz"][0])
    argv = [*command, "--dataset", str(path), "--device", "cpu", "--out", str(tmp_path / "study"), "--quiet"]
    assert_one_line_error(argv, capsys, f"{path}: damaged gzip file")
    assert _files(tmp_path) == ["truncated.csv.gz"]


# --- valid but odd files ------------------------------------------------------------------------

ODD = {
    "windows.csv": GOOD.replace("\n", "\r\n").encode(),
    "classic-mac.csv": GOOD.replace("\n", "\r").encode(),
    "bom.csv": b"\xef\xbb\xbf" + GOOD.encode(),
    "float-labels.csv.gz": gzip.compress(GOOD.replace(",0", ",0.0").replace(",1", ",1.0").encode()),
    "blank-lines.csv": GOOD.replace("\n", "\n\n  \n", 3).encode(),
}


@pytest.mark.parametrize("name", list(ODD))
def test_valid_but_odd_files_reach_training_with_the_right_labels(name, tmp_path, capsys, monkeypatch):
    path = tmp_path / name
    path.write_bytes(ODD[name])
    seen = []
    monkeypatch.setattr(mtlperf.cli, "train", lambda dataset, *args, **kwargs: seen.append(dataset) or _stop())
    with pytest.raises(_Stop):
        main(["train", "--dataset", str(path), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    (dataset,) = seen
    assert dataset.smiles == SMILES and dataset.task_names == ["t1", "t2"]
    np.testing.assert_array_equal(dataset.labels, [[i % 2, (i // 2) % 2] for i in range(len(SMILES))])


def test_blank_smiles_are_counted_with_the_invalid_ones_and_the_file_trains(tmp_path, capsys):
    rows = GOOD.splitlines()
    path = tmp_path / "blanks.csv"
    path.write_text("\r\n".join([*rows, ",1,0", "not_a_smiles,0,1", " ,1,1"]) + "\r\n", encoding="utf-8-sig")
    out = tmp_path / "result.json"
    argv = [
        "train",
        "--dataset",
        str(path),
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--fractions",
        "0.8,0.1,0.1",
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(out),
        "--quiet",
    ]  # 8 training rows, 2 batches of 4
    assert main(argv) == 0
    capsys.readouterr()
    result = json.loads(out.read_text())
    assert result["task_names"] == ["t1", "t2"] and sum(result["split"].values()) == len(SMILES)


# --- fingerprint options ------------------------------------------------------------------------


def test_n_bits_and_radius_reach_the_featuriser(tmp_path, monkeypatch):
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    seen = []
    monkeypatch.setattr(mtlperf.cli, "train", lambda dataset, *args, **kwargs: seen.append(dataset) or _stop())
    with pytest.raises(_Stop):
        main(["train", "--dataset", str(path), "--n-bits", "1024", "--radius", "2", "--cache-dir", str(tmp_path)])
    (dataset,) = seen
    assert dataset.inputs.n_bits == 1024 == dataset.n_inputs and dataset.meta["radius"] == 2


@pytest.mark.parametrize(
    "option, value", [("--n-bits", "0"), ("--n-bits", "many"), ("--n-bits", "2.5"), ("--radius", "-1")]
)
def test_bad_fingerprint_options_are_one_line_before_loading(option, value, capsys, no_loading):
    assert_one_line_error(["train", "--dataset", "tox21", option, value], capsys, f"argument {option}", value)


# --- output paths -------------------------------------------------------------------------------

DIR_COMMANDS = {
    "scaling": ["scaling", "--method", "lbtw", "--tasks", "2", "--batch-size", "8", "--steps", "1", "--device", "cpu"],
    "accuracy": ["accuracy", "--dataset", "tox21", "--tasks", "2", "--seeds", "1", "--device", "cpu"],
    "reproduce lbtw": ["reproduce", "lbtw", "--dataset", "tox21", "--device", "cpu"],
    "reproduce mtregression": ["reproduce", "mtregression", "--seeds", "1", "--device", "cpu"],
}
TRAIN = ["train", "--dataset", "tox21", "--epochs", "1", "--device", "cpu"]


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory nobody here may create files in (a read-only one, or /sys when running as root)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        found = next((d for d in (locked, Path("/sys")) if not _writable(d)), None)
        if found is None:
            pytest.skip("no unwritable directory here")
        yield found
    finally:
        locked.chmod(0o755)


def _writable(directory) -> bool:
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def test_train_out_an_existing_directory(tmp_path, capsys, no_loading):
    assert_one_line_error([*TRAIN, "--out", str(tmp_path)], capsys, f"--out {tmp_path}: is a directory")
    assert _files(tmp_path) == []


def test_train_out_under_a_regular_file(tmp_path, capsys, no_loading):
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "notes.txt" / "runs" / "result.json"
    assert_one_line_error(
        [*TRAIN, "--out", str(out)], capsys, f"--out {out}: {tmp_path / 'notes.txt'} is a file, not a directory"
    )
    assert _files(tmp_path) == ["notes.txt"]


def test_train_out_in_an_unwritable_directory(unwritable_dir, capsys, no_loading):
    out = f"{unwritable_dir}/new/result.json"
    assert_one_line_error([*TRAIN, "--out", out], capsys, f"--out {out}: cannot write in {unwritable_dir} (")


@pytest.mark.parametrize("command", list(DIR_COMMANDS))
def test_out_dir_given_a_regular_file(command, tmp_path, capsys, no_loading):
    out = tmp_path / "scaling.json"
    out.write_text("{}")
    assert_one_line_error(
        [*DIR_COMMANDS[command], "--out", str(out)], capsys, f"--out {out}: is a file, not a directory"
    )
    assert _files(tmp_path) == ["scaling.json"] and out.read_text() == "{}"


@pytest.mark.parametrize("command", list(DIR_COMMANDS))
def test_out_dir_under_a_regular_file(command, tmp_path, capsys, no_loading):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "results"
    assert_one_line_error(
        [*DIR_COMMANDS[command], "--out", str(out)],
        capsys,
        f"--out {out}: {tmp_path / 'file'} is a file, not a directory",
    )
    assert _files(tmp_path) == ["file"]


@pytest.mark.parametrize("command", list(DIR_COMMANDS))
def test_out_dir_in_an_unwritable_directory(command, unwritable_dir, capsys, no_loading):
    out = f"{unwritable_dir}/results"
    assert_one_line_error(
        [*DIR_COMMANDS[command], "--out", out], capsys, f"--out {out}: cannot write in {unwritable_dir}"
    )


# --- settings ------------------------------------------------------------------------------------

BAD_SETTINGS = [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--max-steps", "-3"], "--max-steps"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--weight-decay", "-0.1"], "--weight-decay"),
    (["--fractions", "0.5,0.5"], "--fractions"),
    (["--dropout", "1.5"], "--dropout"),
    (["--clip", "0"], "--clip"),
    (["--hidden", "0"], "--hidden"),
]


@pytest.mark.parametrize("argv, option", BAD_SETTINGS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_train_checks_every_setting_before_loading_and_names_the_option(argv, option, capsys, no_loading):
    assert_one_line_error([*TRAIN, *argv], capsys, option)


SWEEP_SETTINGS = {
    "accuracy --seeds 0": [*DIR_COMMANDS["accuracy"], "--seeds", "0"],
    "accuracy --epochs 0": [*DIR_COMMANDS["accuracy"], "--epochs", "0"],
    "accuracy --batch-size 0": [*DIR_COMMANDS["accuracy"], "--batch-size", "0"],
    "reproduce lbtw --seeds 0": [*DIR_COMMANDS["reproduce lbtw"], "--seeds", "0"],
    "reproduce lbtw --epochs -1": [*DIR_COMMANDS["reproduce lbtw"], "--epochs", "-1"],
    "reproduce lbtw --tasks 0": [*DIR_COMMANDS["reproduce lbtw"], "--tasks", "0"],
    "reproduce mtregression --steps 0": [*DIR_COMMANDS["reproduce mtregression"], "--steps", "0"],
    "scaling --steps 0": [*DIR_COMMANDS["scaling"], "--steps", "0"],
    "scaling --warmup -1": [*DIR_COMMANDS["scaling"], "--warmup", "-1"],
}


@pytest.mark.parametrize("name", list(SWEEP_SETTINGS))
def test_sweeps_check_their_settings_before_loading(name, tmp_path, capsys, no_loading):
    option = name.split()[-2]
    assert_one_line_error([*SWEEP_SETTINGS[name], "--out", str(tmp_path / "out")], capsys, f"argument {option}")
    assert not (tmp_path / "out").exists()


def test_a_diverging_run_is_exit_1_one_line_and_writes_nothing(tmp_path, capsys):
    argv = [
        *TRAIN,
        "--tasks",
        "3",
        "--hidden",
        "16",
        "--max-rows",
        "400",
        "--batch-size",
        "64",
        "--lr",
        "1e30",
        "--quiet",
    ]
    code = main([*argv, "--out", str(tmp_path / "run.json")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "non-finite" in err and "step" in err and "epoch" in err
    assert list(tmp_path.iterdir()) == [], "a failed run leaves no result and no temporary file"
