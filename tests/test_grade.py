"""grader.grade: a class of lesson-00 submissions (every way a hand-in can go wrong) gets exact points."""

from __future__ import annotations

import csv
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from apps import ROOT
from grading_fixtures import EXPECTED, HIDDEN, build_class, build_learner
from grader.grade import find_notebook


def run_grade(submissions: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.grade", str(submissions), "--out", str(out),
                           "--workers", "2", "--cell-timeout", "3", "--lessons", "00", "--no-progress", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def class_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("class")
    build_class(base / "submissions")
    (base / "submissions" / "stray_upload.zip").write_bytes(b"PK")
    done = run_grade(base / "submissions", base / "out", "--hidden", str(HIDDEN))
    assert done.returncode == 0, done.stderr[-3000:]
    return base / "out", done.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_learner_gets_exactly_their_points(class_run):
    out, _ = class_run
    rows = {r["learner"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert set(rows) == set(EXPECTED)
    got = {name: (int(r["00.greet"]), int(r["total"]), int(r["max"])) for name, r in rows.items()}
    want = {name: (sum(p), sum(p), 2) for name, p in EXPECTED.items()}
    assert got == want


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_feedback_junit_and_summary_are_written(class_run):
    out, stdout = class_run
    for name in EXPECTED:
        assert (out / "feedback" / f"{name}.md").exists()
        suite = ET.parse(out / "junit" / f"{name}.xml").getroot()
        assert [c.get("name") for c in suite.iter("testcase")] == ["00.greet", "00.greet:unicode"]
    forged = (out / "feedback" / "forged_verdict.md").read_text(encoding="utf-8")
    assert "altered" in forged and "Score: 0 / 2" in forged
    assert "not in the submission" in (out / "feedback" / "missing_lesson.md").read_text(encoding="utf-8")
    assert "not a readable notebook" in (out / "feedback" / "corrupted_file.md").read_text(encoding="utf-8")
    partly = ET.parse(out / "junit" / "partly_solved.xml").getroot()
    assert partly.get("failures") == "1"
    assert "score: mean" in stdout and "hardest:" in stdout and "stray_upload.zip" in stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_learner_over_the_time_limit_is_stopped_and_marked(tmp_path):
    build_learner("ignores_interrupt", tmp_path / "sub" / "stuck")
    build_learner("full_marks", tmp_path / "sub" / "fine")
    # The stuck learner's cell would run for the whole cell limit (60 s) before an interrupt, so only the
    # learner limit (15 s) can stop it; the fine learner (a process, a kernel, the setup cells: ~3 s idle)
    # has room on a busy machine. With the default 3 s cell limit the two limits were only seconds apart.
    done = run_grade(tmp_path / "sub", tmp_path / "out", "--learner-timeout", "15", "--cell-timeout", "60")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["learner"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv", encoding="utf-8"))}
    assert rows["fine"]["total"] == "1" and rows["stuck"]["total"] == "0", rows
    assert "stopped after 15 s" in rows["stuck"]["notes"]
    assert "time limit" in (tmp_path / "out" / "feedback" / "stuck.md").read_text(encoding="utf-8")


def test_find_notebook_prefers_the_real_file_over_checkpoints_and_copies(tmp_path):
    nb = nbformat.v4.new_notebook()
    for rel in (".ipynb_checkpoints/00_welcome.ipynb", "deep/er/00_welcome.ipynb", "x/00_welcome.ipynb",
                "01_other.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, tmp_path / rel)
    assert find_notebook(tmp_path, "00_welcome.ipynb") == tmp_path / "x" / "00_welcome.ipynb"
    (tmp_path / "x" / "00_welcome.ipynb").rename(tmp_path / "x" / "00_welcome (1).ipynb")
    (tmp_path / "deep" / "er" / "00_welcome.ipynb").unlink()
    assert find_notebook(tmp_path, "00_welcome.ipynb") == tmp_path / "x" / "00_welcome (1).ipynb"
    assert find_notebook(tmp_path, "02_missing.ipynb") is None
