"""Grading tests for lesson 08 (Testing async FastAPI apps)."""

import pytest

NOTEBOOK = "08_testing_async_apps.ipynb"


@pytest.mark.parametrize("exercise_id", ["08.test_details_degrades", "08.test_shelf_conflict", "08.make_client"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
