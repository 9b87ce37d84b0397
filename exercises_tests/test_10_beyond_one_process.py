"""Grading tests for lesson 10 (Beyond one process: workers, Redis and PostgreSQL).

Its checks start real Redis and PostgreSQL servers. Where one is not installed, an answer cannot be judged: the
test is skipped with the install line as its reason (an untouched stub is still reported as not attempted).
"""

import pytest

from labkit import services
from labkit.checks import NOT_ATTEMPTED

NOTEBOOK = "10_beyond_one_process.ipynb"
NEEDS = {"10.next_job_id": "redis", "10.redis_lock": "redis", "10.add_to_shelf": "postgres"}


@pytest.mark.parametrize("exercise_id", ["10.next_job_id", "10.redis_lock", "10.add_to_shelf"])
def test_exercise(graded, grade, exercise_id):
    kind = NEEDS[exercise_id]
    if not services.available()[kind]:
        result = graded.grade(exercise_id)
        if result.status != NOT_ATTEMPTED:
            pytest.skip(f"{exercise_id} not graded: {services.missing_message(kind).splitlines()[0]} "
                        f"(Debian/Ubuntu: apt-get install redis-server postgresql; see the README)")
    grade(exercise_id)
