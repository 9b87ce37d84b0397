"""Grading tests for lesson 09 (Performance under load, and the capstone)."""

import pytest

NOTEBOOK = "09_performance_capstone.ipynb"


@pytest.mark.parametrize("exercise_id", ["09.percentiles", "09.summarize_runs", "09.recommendations"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
