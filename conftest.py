"""How the suite shares out its tests among parallel workers (pytest-xdist; ``-n`` is set in pyproject.toml).

* Tests that share a fixture wider than one test (a module-scoped kernel per grading module in
  ``exercises_tests/``, the graded class of ``tests/test_grade.py``) go to one worker together, so the
  fixture is built once, as in a serial run.
* The tests marked ``slow`` start first, then those sharing a fixture, then the rest, so that no worker
  is left finishing a long test alone at the end.

With ``-n 0`` (no workers) the order is the same and the groups are ignored.
"""

from __future__ import annotations

import pytest

SHARED_SCOPES = {"module", "class", "package"}


def _shares_a_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(fixturedef.scope in SHARED_SCOPES
               for fixturedefs in info.name2fixturedefs.values() for fixturedef in fixturedefs)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    grouped: set[str] = set()
    for item in items:
        if _shares_a_fixture(item):
            group = item.nodeid.split("::", 1)[0]  # the module's path
            item.add_marker(pytest.mark.xdist_group(group))
            grouped.add(group)
    slow_groups = {item.nodeid.split("::", 1)[0] for item in items
                   if item.get_closest_marker("slow") and item.nodeid.split("::", 1)[0] in grouped}

    def rank(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0]
        if item.get_closest_marker("slow") or module in slow_groups:
            return 0
        return 1 if module in grouped else 2

    items.sort(key=rank)  # stable: collection order within a rank
