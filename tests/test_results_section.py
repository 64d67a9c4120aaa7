"""The README's Results section is what ``mtlperf report`` renders from ``results/``, number for number."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mtlperf.cli import main
from mtlperf.results_section import BEGIN, END, render, replace_section

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "results"


def readme_section(text: str) -> str:
    return text[text.index(BEGIN) + len(BEGIN) + 1 : text.index(END)]


def test_the_readme_results_section_equals_what_the_result_files_render():
    assert readme_section(README.read_text(encoding="utf-8")) == render(RESULTS), (
        "README.md's Results section differs from results/: run `mtlperf report` and commit both"
    )


@pytest.fixture
def copied(tmp_path):
    shutil.copytree(RESULTS, tmp_path / "results", ignore=shutil.ignore_patterns("*.png", "runs"))
    shutil.copy(README, tmp_path / "README.md")
    return tmp_path


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_changed_result_file_fails_the_check_and_report_rewrites_the_readme(copied, capsys):
    args = ["report", "--results", str(copied / "results"), "--readme", str(copied / "README.md")]
    assert main([*args, "--check"]) == 0

    def slower_pcgrad(data):
        for row in data["results"]:
            if row["method"] == "pcgrad" and row["n_tasks"] == 128:
                row["step_time_s"]["median"] *= 3

    edit_json(copied / "results" / "scaling-cpu-1024" / "scaling.json", slower_pcgrad)
    before = (copied / "README.md").read_text()
    assert main([*args, "--check"]) == 1
    assert (copied / "README.md").read_text() == before, "--check must write nothing"
    assert main(args) == 0
    after = (copied / "README.md").read_text()
    assert after != before and main([*args, "--check"]) == 0
    assert after[: after.index(BEGIN)] == before[: before.index(BEGIN)], "text outside the markers is kept"
    assert "11.60 s" in readme_section(after)  # pcgrad at 128 tasks, three times the recorded 3.87 s


def test_a_missing_result_file_is_one_line_exit_2(copied, capsys):
    (copied / "results" / "mtregression" / "mtregression.json").unlink()
    code = main(["report", "--results", str(copied / "results"), "--readme", str(copied / "README.md")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "mtregression.json: result file missing" in err


def test_a_readme_without_the_markers_is_refused(copied, capsys):
    (copied / "README.md").write_text("# a README\n")
    code = main(["report", "--results", str(copied / "results"), "--readme", str(copied / "README.md")])
    assert code == 2 and "no results markers" in capsys.readouterr().err
    assert (copied / "README.md").read_text() == "# a README\n"


def test_replace_section_keeps_what_surrounds_the_markers():
    text = f"before\n{BEGIN}\nold\n{END}\nafter\n"
    assert replace_section(text, "new\n") == f"before\n{BEGIN}\nnew\n{END}\nafter\n"
