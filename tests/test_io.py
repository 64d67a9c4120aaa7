"""Atomic result files: a failed write leaves no temporary file and names the path; output paths checked up front."""

from __future__ import annotations

import json
import os

import pytest

from mtlperf.io import atomic_write_json, check_output_dir, check_output_file


def test_atomic_write_makes_the_directories_and_writes_json(tmp_path):
    path = atomic_write_json(tmp_path / "a" / "b.json", {"x": float("nan"), "y": [1.5]})
    assert json.loads(path.read_text()) == {"x": None, "y": [1.5]}
    assert os.listdir(tmp_path / "a") == ["b.json"]


def test_a_write_onto_a_directory_names_the_path_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match=f"cannot write {tmp_path / 'out'}: Is a directory"):
        atomic_write_json(tmp_path / "out", {})
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_midway_keeps_the_old_file_and_no_temporary_one(tmp_path, monkeypatch, failure):
    path = tmp_path / "result.json"
    path.write_text('{"old": true}')

    def fail(fd):
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(type(failure)):
        atomic_write_json(path, {"new": True})
    assert os.listdir(tmp_path) == ["result.json"] and json.loads(path.read_text()) == {"old": True}


def test_output_checks_accept_new_paths_and_create_nothing(tmp_path):
    assert check_output_file(tmp_path / "new" / "deeper" / "r.json") == tmp_path / "new" / "deeper" / "r.json"
    assert check_output_dir(tmp_path / "results") == tmp_path / "results"
    (tmp_path / "there.json").write_text("{}")
    check_output_file(tmp_path / "there.json")  # overwriting a result file is allowed
    assert sorted(os.listdir(tmp_path)) == ["there.json"]


def test_output_checks_name_the_option(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match=f"^--cache-dir {tmp_path / 'f'}: is a file, not a directory$"):
        check_output_dir(tmp_path / "f", "--cache-dir")
