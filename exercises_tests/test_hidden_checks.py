"""Hidden checks (``--hidden DIR`` or ``$LABKIT_HIDDEN``): one test per check, in its lesson's notebook.

Not collected at all when no hidden folder is given (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.notebook import NotebookGrader, lesson_notebooks

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hidden_id" in metafunc.fixturenames:
        metafunc.parametrize("hidden_id", sorted(e.id for e in metafunc.config._labkit_hidden))


@pytest.fixture(scope="module")
def graders(request: pytest.FixtureRequest) -> Iterator[dict[str, NotebookGrader]]:
    """One kernel per lesson notebook, opened on first use."""
    opened: dict[str, NotebookGrader] = {}
    yield opened
    for grader in opened.values():
        grader.__exit__(None, None, None)


def test_hidden_check(request: pytest.FixtureRequest, graders: dict[str, NotebookGrader], hidden_id: str) -> None:
    lesson = hidden_id[:2]
    name = lesson_notebooks().get(lesson)
    assert name, f"no lesson {lesson} in the lessons manifest for hidden check {hidden_id}"
    if name not in graders:
        folder = Path(request.config.getoption("--notebooks"))
        graders[name] = NotebookGrader(folder / name, cell_timeout=request.config.getoption("--cell-timeout")).__enter__()
    result = graders[name].grade(hidden_id)
    if not result.passed:
        pytest.fail(f"{result.id} {result.status}: {result.message}", pytrace=False)
