"""grader.grade: a class of lesson-00 submissions (every way a hand-in can go wrong, and every kind of attack)
gets exact points, in the sandbox; no attack touches another learner's files or grades."""

from __future__ import annotations

import csv
import hashlib
import os
import site
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from apps import ROOT
from grading_fixtures import ATTACKS, EXPECTED, HIDDEN, MARKER, build_class, build_learner
from grader.grade import find_notebook


def run_grade(submissions: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.grade", str(submissions), "--out", str(out),
                           "--workers", "2", "--cell-timeout", "3", "--lessons", "00", "--no-progress", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def fingerprint(folder: Path) -> dict[str, str]:
    """Hash of every file under ``folder`` (symlinks by target)."""
    return {str(p.relative_to(folder)): os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


def attack_processes() -> list[int]:
    """Processes an attack left behind (their command line carries the marker)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if MARKER in " ".join(proc.info["cmdline"] or []) and proc.pid != os.getpid():
            found.append(proc.pid)
    return found


@pytest.fixture(scope="module")
def class_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("class")
    out = base / "out"
    build_class(base / "submissions", paths={"out": str(out), "submissions": str(base / "submissions")})
    (base / "submissions" / "stray_upload.zip").write_bytes(b"PK")
    before = {"submissions": fingerprint(base / "submissions"), "labkit": fingerprint(ROOT / "labkit"),
              "site": sorted(str(p) for d in site.getsitepackages() for p in Path(d).glob("*.pth"))}
    done = run_grade(base / "submissions", out, "--hidden", str(HIDDEN))
    assert done.returncode == 0, done.stderr[-3000:]
    before["grades"] = (out / "grades.csv").read_bytes()
    before["after"] = {"submissions": fingerprint(base / "submissions"), "labkit": fingerprint(ROOT / "labkit"),
                       "site": sorted(str(p) for d in site.getsitepackages() for p in Path(d).glob("*.pth"))}
    return out, done.stdout, before


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_learner_gets_exactly_their_points(class_run):
    out, _, _ = class_run
    rows = {r["learner"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert set(rows) == set(EXPECTED)
    got = {name: (int(r["00.greet"]), int(r["total"]), int(r["max"])) for name, r in rows.items()}
    want = {name: (sum(p), sum(p), 2) for name, p in EXPECTED.items()}
    assert got == want


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_feedback_junit_and_summary_are_written(class_run):
    out, stdout, _ = class_run
    for name in EXPECTED:
        assert (out / "feedback" / f"{name}.md").exists()
        suite = ET.parse(out / "junit" / f"{name}.xml").getroot()
        assert [c.get("name") for c in suite.iter("testcase")] == ["00.greet", "00.greet:unicode"]
    forged = (out / "feedback" / "forged_verdict.md").read_text(encoding="utf-8")
    assert "not attempted" in forged and "Score: 0 / 2" in forged
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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_attacks_earn_nothing_and_touch_no_one_else(class_run):
    out, _, seen = class_run
    rows = {r["learner"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert {name: rows[name]["total"] for name in ATTACKS} == {name: "0" for name in ATTACKS}
    # nothing outlives the grader: a left-behind process would rewrite grades.csv and the feedback
    deadline = time.monotonic() + 10
    while attack_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert attack_processes() == []
    assert (out / "grades.csv").read_bytes() == seen["grades"]
    # no learner's files, course file or site-packages entry changed; no note blames anyone
    assert seen["after"] == {k: seen[k] for k in ("submissions", "labkit", "site")}
    assert not any("INTEGRITY" in r["notes"] for r in rows.values())
    feedback = {p.name: p.read_text(encoding="utf-8") for p in (out / "feedback").iterdir()}
    hidden_source = (HIDDEN / "lesson00_hidden.py").read_text(encoding="utf-8")
    assert "Łukasz" in hidden_source and not any("Łukasz" in text for text in feedback.values())
    assert "raised MemoryError" in feedback["attack_memory.md"]
    assert (out / "logs" / "attack_output_flood.log").stat().st_size <= 64 * 1024 * 1024
    assert "returned 'no greeting'" in feedback["attack_disable_check.md"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_honest_learners_keep_their_marks_and_get_notes(class_run):
    out, _, _ = class_run
    rows = {r["learner"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert "graded `00_welcome (1).ipynb`" in rows["duplicate_notebooks"]["notes"]
    assert "graded the cell that defines `greet`" in rows["lost_cell_tags"]["notes"]
    assert rows["helper_cell"]["total"] == "2" and rows["helper_cell"]["notes"] == ""


def test_a_machine_without_bubblewrap_gets_an_error_naming_the_install(tmp_path):
    (tmp_path / "sub" / "ada").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "grader", str(tmp_path / "sub"), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert "apt-get install bubblewrap" in done.stderr and "--sandbox none" in done.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_the_lessons_manifest_is_up_to_date():
    done = subprocess.run([sys.executable, "-m", "authoring.manifest", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_sandbox_serves_the_learner_release_so_answers_cannot_be_imported(tmp_path):
    """A learner's cell that imports the reference app's answer gets the stub, as in the learner release."""
    import os
    import subprocess

    from grader.sandbox import require_sandbox, sandbox_command, sandbox_uid

    try:
        require_sandbox()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no sandbox here: {exc}")
    work = tmp_path / "work"
    work.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(work, 0o777)
    probe = ("import inspect, bookshelf.fanout as f; src = inspect.getsource(f.fetch_details); "
             "print('stub' if 'raise NotImplementedError()' in src and 'gather' not in src else 'ANSWER')")
    command = sandbox_command([sys.executable, "-c", probe], work, uid=sandbox_uid(7))
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "stub", done.stdout + done.stderr[-2000:]
    outside = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert outside.stdout.strip() == "ANSWER", "outside the sandbox the authors' copy still holds the answer"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_sealed_check_cannot_be_disabled_from_the_learners_function(tmp_path):
    """09.percentiles is sealed: the same function that makes the check pass when it runs in the kernel earns 0."""
    from grading_fixtures import DISABLE_CHECK_09, lesson09_notebook

    from grader.notebook import NotebookGrader
    from grader.sandbox import Limits, require_sandbox
    from labkit.checks import get_exercise

    try:
        require_sandbox()
        sandbox = Limits()
    except Exception:  # noqa: BLE001 - the channel, not the sandbox, is what this test is about
        sandbox = None
    path = lesson09_notebook(tmp_path / "learner", DISABLE_CHECK_09)
    with NotebookGrader(path, cell_timeout=60, sandbox=sandbox, workroot=tmp_path) as grader:
        sealed = grader.grade("09.percentiles")
        in_kernel = grader._check_in_kernel(get_exercise("09.percentiles"))  # what an unsealed check would say
    assert get_exercise("09.percentiles").sealed
    assert sealed.status == "failed" and sealed.points == 0, sealed
    assert "the keys are ['p50']" in sealed.message, sealed
    assert not isinstance(in_kernel, str) and in_kernel.status == "passed", (
        f"the attack must really defeat a check run in the kernel, or this test proves nothing: {in_kernel}")


def test_one_learner_with_spare_workers_is_split_by_lesson_and_a_class_is_not():
    from grader.grade import _parts, _plan

    plan, _ = _plan()
    for learners, workers, count in ((1, 2, 2), (1, 4, 4), (2, 2, 1), (50, 2, 1), (3, 8, 2), (1, 64, len(plan))):
        parts = _parts(plan, learners, workers)
        assert len(parts) == count, (learners, workers)
        assert sorted(name for part in parts for name, _ in part) == sorted(name for name, _ in plan)
