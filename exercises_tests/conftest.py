"""Grade a folder of lesson notebooks: ``pytest exercises_tests --notebooks DIR`` (default: solutions/).

Outcomes: an exercise that passes its check passes; a wrong or broken answer fails, with the verdict in
one line; an untouched stub is skipped as "not attempted", so the summary tells "wrong" from "not done".

Each test module names its notebook in ``NOTEBOOK``; the ``graded`` fixture opens that notebook in
one kernel per module, runs its Setup cells, and hands out verdicts per exercise.

Hidden checks: ``--hidden DIR`` (or ``$LABKIT_HIDDEN``) loads the checks in ``DIR/*.py`` and
``test_hidden_checks.py`` grades each of them; without it that file is not collected at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.checks import MISSING, NOT_ATTEMPTED, Result
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
    if "s" not in config.option.reportchars and "a" not in config.option.reportchars.lower():
        config.option.reportchars += "s"  # list the "not attempted" exercises in the summary
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


def instructor_message(result: Result) -> str:
    """The verdict's message for the instructor: what is wrong, without the learner's next steps."""
    if result.status == NOT_ATTEMPTED:
        return "the exercise's stub is untouched (it still raises NotImplementedError)"
    if result.status == MISSING and " is not defined yet" in result.message:
        return result.message.split(":", 1)[0] + " after its cells ran"
    return result.message


def assert_passes(result: Result) -> None:
    """Pass, skip as not attempted, or fail with what is wrong (the learner's verdict without their next steps)."""
    if result.status == NOT_ATTEMPTED:
        pytest.skip(f"{result.id} not attempted: {instructor_message(result)}")
    if not result.passed:
        pytest.fail(f"{result.id} {result.status}: {instructor_message(result)}", pytrace=False)


@pytest.fixture
def grade(graded: NotebookGrader):
    """``grade("01.fetch_all")`` runs that exercise in the module's notebook and fails unless it passes."""

    def run(exercise_id: str) -> Result:
        result = graded.grade(exercise_id)
        assert_passes(result)
        return result

    return run
