"""Grade a folder of lesson notebooks: ``pytest exercises_tests --notebooks DIR`` (default: solutions/).

Each test module names its notebook in ``NOTEBOOK``; the ``graded`` fixture opens that notebook in
one kernel per module, runs its Setup cells, and hands out verdicts per exercise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.checks import Result
from labkit.grading import NotebookGrader

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--notebooks", default=str(ROOT / "solutions"),
                     help="folder with the lesson notebooks to grade (default: solutions/)")
    parser.addoption("--cell-timeout", type=float, default=60.0,
                     help="seconds a learner's cell may run before it is interrupted (default: 60)")


@pytest.fixture(scope="module")
def graded(request: pytest.FixtureRequest) -> Iterator[NotebookGrader]:
    folder = Path(request.config.getoption("--notebooks"))
    notebook = folder / request.module.NOTEBOOK
    with NotebookGrader(notebook, cell_timeout=request.config.getoption("--cell-timeout")) as grader:
        yield grader


def assert_passes(result: Result) -> None:
    """Fail the test with the learner-facing message unless the exercise passed."""
    if not result.passed:
        pytest.fail(f"{result.id} {result.status}: {result.message}", pytrace=False)


@pytest.fixture
def grade(graded: NotebookGrader):
    """``grade("01.fetch_all")`` runs that exercise in the module's notebook and fails unless it passes."""

    def run(exercise_id: str) -> Result:
        result = graded.grade(exercise_id)
        assert_passes(result)
        return result

    return run
