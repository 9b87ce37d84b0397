"""Grading tests for lesson 03 (Calling other services concurrently)."""

import pytest

NOTEBOOK = "03_concurrent_upstreams.ipynb"


@pytest.mark.parametrize("exercise_id", ["03.fetch_details", "03.with_retries", "03.bounded_gather"])
def test_exercise(grade, exercise_id):
    grade(exercise_id)
