"""Grading tests for lesson 06 (Shared state and background work)."""

import pytest

NOTEBOOK = "06_shared_state.ipynb"


@pytest.mark.parametrize("exercise_id", ["06.reserve_copy", "06.worker_pool", "06.graceful_stop"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
