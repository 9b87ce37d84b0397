"""Grading tests for lesson 07 (Debugging and observability)."""

import pytest

NOTEBOOK = "07_debugging_observability.ipynb"


@pytest.mark.parametrize("exercise_id", ["07.request_id_middleware", "07.error_handler", "07.find_stuck_tasks",
                                         "07.transaction"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
