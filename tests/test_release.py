"""The learner-only release holds no answer: no solutions, no grading tools, every fenced answer stubbed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from authoring import release
from authoring.editions import ROOT


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release")
    release.release(out)
    return out


def test_no_solution_region_body_is_anywhere_in_the_release(released: Path) -> None:
    assert release.answer_leaks(released) == []


def test_the_leak_finder_finds_a_planted_answer(released: Path, tmp_path: Path) -> None:
    where, body = next((w, b) for w, b in release.solution_regions() if b.count("\n") >= 2)
    planted = tmp_path / "copied.py"
    planted.write_text("def sneaky():\n" + "\n".join("    " + line for line in body.splitlines()) + "\n")
    assert release.answer_leaks(tmp_path) == [f"copied.py holds the answer of {where}: "
                                               f"{body.splitlines()[0][:70]!r}..."]


def test_what_stays_with_instructors_and_authors_is_left_out(released: Path) -> None:
    for gone in ("solutions", "exercises_tests", "grader", "authoring", "tests", ".ci", "INSTRUCTORS.md", "site",
                 ".github/workflows/site.yml"):
        assert not (released / gone).exists(), f"{gone} must not be in the learner release"
    for kept in ("notebooks/00_welcome.ipynb", "labkit/__init__.py", "requirements.txt", "binder/postBuild",
                 "data/books.csv", "bookshelf/app.py"):
        assert (released / kept).is_file(), f"{kept} belongs in the learner release"


def test_fenced_answers_in_the_course_code_become_stubs(released: Path) -> None:
    fenced = [p.relative_to(ROOT) for p in ROOT.glob("bookshelf/**/*.py") if "### BEGIN SOLUTION" in p.read_text()]
    assert fenced, "the reference app fences the exercise answers it holds"
    for name in fenced:
        text = (released / name).read_text()
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, name


def test_the_release_imports_and_refuses_a_folder_in_use(released: Path) -> None:
    # bookshelf.main, the reference product, cannot run there (its capstone is a stub): learners run myshelf.main
    code = "import labkit, bookshelf, bookshelf.app, labkit.myshelf, labkit.standins; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=released, capture_output=True, text=True,
                          env={"PYTHONPATH": str(released), "PATH": "/usr/bin:/bin", "HOME": str(released)})
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    with pytest.raises(FileExistsError):
        release.release(released)
