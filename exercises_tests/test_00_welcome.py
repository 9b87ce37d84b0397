"""Grading tests for lesson 00 (Welcome)."""

import pytest

NOTEBOOK = "00_welcome.ipynb"


@pytest.mark.parametrize("exercise_id", ["00.greet"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
