"""Grading tests for lesson 02 (A first FastAPI app in the kernel)."""

import pytest

NOTEBOOK = "02_first_fastapi_app.ipynb"


@pytest.mark.parametrize("exercise_id", ["02.create_app", "02.fetch_many", "02.unblock"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
