"""python -m grader export: the class's gradebook as Canvas's import CSV and as Gradescope's score upload CSV."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps import ROOT
from grader.grade import LearnerGrade, _plan, _write_outputs
from labkit.checks import PASSED


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """What a class run writes, for three learners of lessons 00 and 01 (no kernel needed to write it)."""
    plan, by_id = _plan(["00", "01"])
    ids = [i for _, lesson in plan for i in lesson]
    solved = {"ada": set(ids), "grace": {"00.greet", "01.fetch_all"}, "linus": set()}
    grades = [LearnerGrade(name, verdicts={i: {"status": PASSED if i in done else "failed", "message": ""}
                                           for i in ids}) for name, done in solved.items()]
    out = tmp_path / "results"
    for sub in ("feedback", "junit"):
        (out / sub).mkdir(parents=True)
    _write_outputs(grades, plan, by_id, out)
    return out


def export(results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", "export", str(results), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def read(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_points_json_describes_every_exercise_column(results: Path) -> None:
    columns = json.loads((results / "points.json").read_text())["columns"]
    header = read(results / "grades.csv")[0]
    assert list(columns) == header[1:-4]
    assert columns["00.greet"] == {"notebook": "00_welcome.ipynb", "max": 1}
    assert sum(c["max"] for c in columns.values()) == 8


def test_canvas_gets_a_points_possible_row_and_a_column_per_lesson(results: Path, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("learner,name,sis_login_id,section,email\nada,Ada Lovelace,alovelace,Sec 1,ada@example.org\n"
                      "grace,Grace Hopper,ghopper,Sec 2,grace@example.org\n")
    done = export(results, "--format", "canvas", "--roster", str(roster))
    assert done.returncode == 0, done.stderr
    assert "not in the roster (exported under their folder name): linus" in done.stderr
    assert read(results / "canvas.csv") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "00_welcome", "01_async_fundamentals"],
        ["    Points Possible", "", "", "", "", "1", "7"],
        ["Ada Lovelace", "", "", "alovelace", "Sec 1", "1", "7"],
        ["Grace Hopper", "", "", "ghopper", "Sec 2", "1", "2"],
        ["linus", "", "", "linus", "", "0", "0"],
    ]


def test_gradescope_gets_a_column_per_exercise_and_the_total(results: Path, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("Learner,Email,SID\nada,ada@example.org,1001\ngrace,grace@example.org,1002\n"
                      "linus,linus@example.org,1003\n")
    out = tmp_path / "scores.csv"
    done = export(results, "--format", "gradescope", "--roster", str(roster), "--out", str(out))
    assert done.returncode == 0 and "not in the roster" not in done.stderr, done.stderr
    assert read(out) == [
        ["Name", "Email", "SID", "00.greet", "01.fastest", "01.fetch_all", "01.with_timeout", "Total Score"],
        ["ada", "ada@example.org", "1001", "1", "3", "2", "2", "8"],
        ["grace", "grace@example.org", "1002", "1", "0", "2", "0", "3"],
        ["linus", "linus@example.org", "1003", "0", "0", "0", "0", "0"],
    ]


def test_a_folder_without_results_or_a_roster_without_learners_is_refused(results: Path, tmp_path: Path) -> None:
    done = export(tmp_path, "--format", "canvas")
    assert done.returncode == 2 and "grades.csv not found" in done.stderr
    roster = tmp_path / "roster.csv"
    roster.write_text("email\nada@example.org\n")
    done = export(results, "--format", "gradescope", "--roster", str(roster))
    assert done.returncode == 2 and "needs a `learner` column" in done.stderr
