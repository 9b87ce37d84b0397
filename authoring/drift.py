"""Check that a lesson's copies of the reference app's code have not drifted from the app (``bookshelf``).

When a lesson has learners *write* a piece of the app, its solution cell carries the tag
``bookshelf:<dotted name>`` (for example ``bookshelf:bookshelf.fanout.fetch_details``). ``drift(notebook)``
lists every such cell whose definition of that name, once the ``### BEGIN/END SOLUTION`` fence lines are
dropped, differs from the app's source. The cell may hold more than the definition (a ``%%myshelf``
module with its imports): only the definition of the tagged name is compared.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat

from labkit.listing import source

__all__ = ["TAG_PREFIX", "FENCES", "strip_fences", "definition", "tagged_cells", "drift"]

TAG_PREFIX = "bookshelf:"
FENCES = ("### BEGIN SOLUTION", "### END SOLUTION")


def strip_fences(code: str) -> str:
    """The code with the solution fence lines removed, trailing blanks trimmed."""
    lines = [line.rstrip() for line in code.splitlines() if line.strip() not in FENCES]
    return "\n".join(lines).strip() + "\n"


def definition(code: str, name: str) -> str:
    """The top-level ``def``/``class`` called ``name`` in a cell's code (a leading ``%%`` magic line is skipped).

    A cell that defines nothing by that name is returned whole, so a mismatch still shows up.
    """
    lines = code.splitlines()
    if lines and lines[0].startswith("%%"):
        lines = lines[1:]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "\n".join(lines[first - 1:node.end_lineno])
    return text


def tagged_cells(notebook: Path | str) -> list[tuple[str, str]]:
    """``(dotted name, cell code)`` for every code cell tagged ``bookshelf:<dotted name>``."""
    nb = nbformat.read(str(notebook), as_version=4)
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag.startswith(TAG_PREFIX):
                found.append((tag[len(TAG_PREFIX):], cell.source))
    return found


def drift(notebook: Path | str) -> list[str]:
    """One message per tagged cell of ``notebook`` that no longer matches the app's source."""
    problems = []
    for dotted, code in tagged_cells(notebook):
        try:
            expected = source(dotted)
        except (ImportError, AttributeError, TypeError, OSError) as exc:
            problems.append(f"{Path(notebook).name}: tag {TAG_PREFIX}{dotted} names nothing showable ({exc})")
            continue
        if strip_fences(definition(code, dotted.rsplit(".", 1)[-1])) != strip_fences(expected):
            problems.append(f"{Path(notebook).name}: the cell tagged {TAG_PREFIX}{dotted} differs from "
                            f"the package's source: copy one onto the other")
    return problems
