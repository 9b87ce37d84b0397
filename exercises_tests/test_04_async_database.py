"""Grading tests for lesson 04 (An async database with aiosqlite)."""

import pytest

NOTEBOOK = "04_async_database.ipynb"


@pytest.mark.parametrize("exercise_id", ["04.search_titles", "04.add_to_shelf", "04.move_between_lists"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
