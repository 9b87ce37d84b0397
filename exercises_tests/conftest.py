"""Grade a folder of lesson notebooks: ``pytest exercises_tests --notebooks DIR`` (default: solutions/).

Each test module names its notebook in ``NOTEBOOK``; the ``graded`` fixture opens that notebook in
one kernel per module, runs its Setup cells, and hands out verdicts per exercise.

Hidden checks: ``--hidden DIR`` (or ``$LABKIT_HIDDEN``) loads the checks in ``DIR/*.py`` and
``test_hidden_checks.py`` grades each of them; without it that file is not collected at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.checks import Result
from grader.notebook import NotebookGrader, hidden_dir_from_env, load_hidden_checks, snapshot_sources

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--notebooks", default=str(ROOT / "solutions"),
                     help="folder with the lesson notebooks to grade (default: solutions/)")
    parser.addoption("--cell-timeout", type=float, default=60.0,
                     help="seconds a learner's cell may run before it is interrupted (default: 60)")
    parser.addoption("--hidden", default=None,
                     help="folder of hidden checks to grade as well (default: $LABKIT_HIDDEN)")


def _hidden_dir(config: pytest.Config) -> Path | None:
    option = config.getoption("--hidden", default=None)
    return Path(option) if option else hidden_dir_from_env()


def pytest_configure(config: pytest.Config) -> None:
    # Read every check's source now, before a learner's kernel can touch the files on disk.
    config._labkit_hidden = load_hidden_checks(_hidden_dir(config))  # type: ignore[attr-defined]
    snapshot_sources()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name == "test_hidden_checks.py" and _hidden_dir(config) is None:
        return True
    return None


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
