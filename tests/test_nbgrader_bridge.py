"""The nbgrader bridge: the course's lessons as nbgrader source notebooks, which nbgrader 0.9.6 accepts and grades.

The last test runs nbgrader itself. nbgrader lives in an environment of its own (its pins are in
authoring/requirements-nbgrader.txt): ``$NBGRADER_VENV``, else ``.venv-nbgrader`` in the course folder.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from apps import ROOT
from authoring import nbgrader as bridge
from grading_fixtures import HIDDEN

INSTALL = ("python3 -m venv .venv-nbgrader && .venv-nbgrader/bin/pip install -r authoring/requirements-nbgrader.txt"
           " (or set NBGRADER_VENV to such an environment)")


def nbgrader_cells(nb: nbformat.NotebookNode) -> list[tuple[dict, str]]:
    return [(c.metadata["nbgrader"], c.source) for c in nb.cells if "nbgrader" in c.metadata]


HIDDEN_POINTS = {"00.greet:unicode": 1}  # tests/grading_hidden's one hidden check


def write_course(out: Path, *args: str) -> None:
    """``python -m authoring.nbgrader OUT --hidden tests/grading_hidden ...``, in a process of its own (loading
    hidden checks registers them: this test process keeps only the course's own)."""
    done = subprocess.run([sys.executable, "-m", "authoring.nbgrader", str(out), "--hidden", str(HIDDEN), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nbgrader") / "course"
    write_course(out)
    return out


def test_every_lesson_is_a_source_notebook_worth_the_registry_points(course: Path) -> None:
    lessons = json.loads((ROOT / "labkit" / "exercises" / "lessons.json").read_text())["lessons"]
    written = sorted(p.relative_to(course).as_posix() for p in (course / "source").glob("*/*.ipynb"))
    assert written == sorted(f"source/{v['notebook'][:-6]}/{v['notebook']}" for v in lessons.values())
    for lesson, entry in lessons.items():
        nb = nbformat.read(course / "source" / entry["notebook"][:-6] / entry["notebook"], as_version=4)
        tests = {m["grade_id"]: m["points"] for m, _ in nbgrader_cells(nb) if m["grade"]}
        hidden = {i: p for i, p in HIDDEN_POINTS.items() if i.startswith(lesson + ".")}
        want = {f"check-{e['id'].replace('.', '-')}": e["points"] for e in entry["exercises"]}
        want.update({f"hidden-{i.replace('.', '-').replace(':', '-')}": p for i, p in hidden.items()})
        assert tests == want, lesson
        ids = [m["grade_id"] for m, _ in nbgrader_cells(nb)]
        assert len(ids) == len(set(ids)), f"lesson {lesson}: duplicate grade ids"


def test_setup_is_locked_answers_are_solution_cells_and_hidden_checks_are_fenced(course: Path) -> None:
    nb = nbformat.read(course / "source" / "00_welcome" / "00_welcome.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4)
    setups = [c for c in solution.cells if "setup" in c.metadata.get("tags", [])]
    locked = [s for m, s in nbgrader_cells(nb) if m["locked"] and not m["grade"]]
    assert locked == [c.source for c in setups]
    answers = [s for m, s in nbgrader_cells(nb) if m["solution"]]
    assert len(answers) == 1 and "### BEGIN SOLUTION" in answers[0] and "def greet" in answers[0]
    [hidden] = [s for m, s in nbgrader_cells(nb) if m["grade_id"] == "hidden-00-greet-unicode"]
    inside = hidden.split(bridge.HIDDEN_BEGIN)[1].split(bridge.HIDDEN_END)[0]
    assert "Łukasz" in inside and 'run_check("00.greet:unicode")' in inside
    assert not [c for c in nb.cells if "BEGIN SOLUTION" in c.source and "nbgrader" not in c.metadata]


def test_a_check_cell_without_a_registered_check_is_refused() -> None:
    nb = nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4)
    next(c for c in nb.cells if "check:00.greet" in c.metadata.get("tags", [])).metadata["tags"] = ["check:00.nope"]
    with pytest.raises(ValueError, match="check:00.nope"):
        bridge.source_notebook(nb, "00")


def test_a_course_folder_in_use_is_refused(course: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "authoring.nbgrader", str(course)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not empty" in done.stderr


def _nbgrader() -> Path:
    venv = Path(os.environ.get("NBGRADER_VENV") or ROOT / ".venv-nbgrader")
    tool = venv / "bin" / "nbgrader"
    if not tool.exists():
        pytest.skip(f"nbgrader is not installed in {venv}: {INSTALL}")
    return tool


def _solved(release: Path, source: Path) -> nbformat.NotebookNode:
    """What a learner who solved every exercise hands in: the released notebook with their answers typed in."""
    nb = nbformat.read(release, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.read(source, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            lines = answers[cell.metadata["nbgrader"]["grade_id"]].splitlines()
            cell.source = "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line
                                     and "### END SOLUTION" not in line)
    return nb


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_nbgrader_generates_the_assignments_and_autogrades_solved_and_unsolved(tmp_path: Path) -> None:
    tool = _nbgrader()
    course = tmp_path / "course"
    write_course(course, "--lessons", "00", "01")
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}", "LABKIT_QUICK": "1"}
    env.pop("JUPYTER_PATH", None)

    def nbgrader(*args: str) -> str:
        done = subprocess.run([str(tool), *args], cwd=course, env=env, capture_output=True, text=True, timeout=500)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        return done.stdout + done.stderr

    lessons = {"00_welcome": 2, "01_async_fundamentals": 7}   # points: the registry's, with lesson 00's hidden check
    for name in lessons:
        nbgrader("generate_assignment", name)
        released = course / "release" / name / f"{name}.ipynb"
        text = released.read_text(encoding="utf-8")
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text
        assert "HIDDEN TESTS" not in text and "Łukasz" not in text
        for learner, nb in (("solved", _solved(released, course / "source" / name / f"{name}.ipynb")),
                            ("unsolved", nbformat.read(released, as_version=4))):
            (course / "submitted" / learner / name).mkdir(parents=True)
            nbformat.write(nb, course / "submitted" / learner / name / f"{name}.ipynb")
        nbgrader("autograde", name)
    nbgrader("export")
    scores = {(r["assignment"], r["student_id"]): (float(r["score"]), float(r["max_score"]))
              for r in csv.DictReader(open(course / "grades.csv", encoding="utf-8"))}
    want = {}
    for name, points in lessons.items():
        want[(name, "solved")] = (float(points), float(points))
        want[(name, "unsolved")] = (0.0, float(points))
    assert scores == want
    graded = nbformat.read(course / "autograded" / "unsolved" / "00_welcome" / "00_welcome.ipynb", as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in graded.cells])
    assert "not attempted" in outputs, "the learner's feedback says the exercise was not attempted"
    shutil.rmtree(course / "autograded", ignore_errors=True)
