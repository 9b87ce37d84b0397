"""Each audience has its own package, and imports run one way (learners <- authors, instructors; the app alone)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("labkit", "authoring", "grader", "bookshelf")
# who may import whom: the app needs none of the others; the learners' helper builds on the app's given code
# (its self-checks and stand-ins use bookshelf's models and services; the release stubs bookshelf's answers);
# the authors' and instructors' tools build on the helper (and the grader on the authors' release)
ALLOWED = {
    "labkit": {"labkit", "bookshelf"},
    "authoring": {"authoring", "labkit"},
    "grader": {"grader", "labkit", "authoring"},   # it grades against the learner release authoring writes
    "bookshelf": {"bookshelf"},
}


def imports_of(path: Path, package: str) -> set[str]:
    """Absolute names of the course modules that ``path`` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    here = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {n for n in found if n.split(".")[0] in PACKAGES}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in sorted(imports_of(path, package)):
            if name.split(".")[0] not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(wrong)


def test_labkit_modules_import_without_a_cycle() -> None:
    """Any import of a sibling, at module level or inside a function, makes an edge: no circle allowed."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "labkit").glob("*.py")):
        if path.name == "__init__.py":
            continue
        edges = {n.split(".")[1] for n in imports_of(path, "labkit") if n.count(".") >= 1 and n.startswith("labkit.")}
        graph[path.stem] = {e for e in edges if (ROOT / "labkit" / f"{e}.py").exists() and e != path.stem}

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            raise AssertionError("labkit modules import each other in a circle: " + " -> ".join(trail + [node]))
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, trail + [node])

    for start in graph:
        visit(start, [])
