"""Grading tests for lesson 05 (Don't block the event loop)."""

import pytest

NOTEBOOK = "05_dont_block_the_loop.ipynb"


@pytest.mark.parametrize("exercise_id", ["05.offload", "05.cpu_pool", "05.background"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
