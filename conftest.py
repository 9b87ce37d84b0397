"""How the suite shares out its tests among parallel workers (pytest-xdist; ``-n`` is set in pyproject.toml).

* The tests of a module that has a fixture wider than one test (``scope="module"``, ``"class"`` or
  ``"package"``, in the module or in a ``conftest.py`` above it: one kernel per grading module in
  ``exercises_tests/``, the graded class of ``tests/test_grade.py``) go to one worker together, so that
  fixture is built once, as in a serial run. Every other test is scheduled on its own.
* The tests marked ``slow`` start first, then the grouped modules, then the rest, so that no worker is left
  finishing a long test alone at the end.

xdist's own ``--dist loadgroup`` would do the grouping from ``xdist_group`` marks, but xdist 3.8 renames the
test ids to carry the group and pytest 9.2 no longer reads the attribute it renames, so the marks are lost:
the scheduler below groups by module path instead.
"""

from __future__ import annotations

import ast
import os
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
WIDE_SCOPES = {"module", "class", "package"}


@cache
def _defines_a_wide_fixture(path: Path) -> bool:
    """Whether the file has a ``@pytest.fixture(scope=...)`` (or ``@fixture(...)``) with a wide scope."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "fixture":
            for keyword in node.keywords:
                if (keyword.arg == "scope" and isinstance(keyword.value, ast.Constant)
                        and keyword.value.value in WIDE_SCOPES):
                    return True
    return False


def shares_a_fixture(module: str) -> bool:
    """Whether the test module at ``module`` (a path relative to the root) or a conftest above it has a wide fixture."""
    path = ROOT / module
    conftests = [folder / "conftest.py" for folder in path.parents if folder == ROOT or ROOT in folder.parents]
    return any(_defines_a_wide_fixture(p) for p in [path, *conftests])


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores this process may use.

    The tests mostly wait (the lessons' timed sleeps, timeouts, subprocesses): with one worker per core
    the suite used ~1.1 of 2 cores (351 CPU-seconds in a 317 s run), so a third worker fills the gaps.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores + 1


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201 - xdist's types
    from xdist.scheduler import LoadScopeScheduling

    class ByModuleWhenShared(LoadScopeScheduling):
        """A work unit is a whole module when its tests share a fixture, else a single test."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if shares_a_fixture(module) else nodeid

    return ByModuleWhenShared(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0]
        if item.get_closest_marker("slow"):
            return 0
        return 1 if shares_a_fixture(module) else 2

    items.sort(key=rank)  # stable: collection order within a rank
