"""Grading tests for lesson 01 (Async fundamentals)."""

import pytest

NOTEBOOK = "01_async_fundamentals.ipynb"


@pytest.mark.parametrize("exercise_id", ["01.fetch_all", "01.with_timeout", "01.fastest"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
