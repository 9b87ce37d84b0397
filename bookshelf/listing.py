"""Show the package's code in a notebook, and check that a notebook's copies of it have not drifted.

A lesson shows code with ``show(bookshelf.fanout.fetch_details)``. When a lesson has learners *write* a
piece of the package, its solution cell carries the tag ``bookshelf:<dotted name>`` (for example
``bookshelf:bookshelf.fanout.fetch_details``); ``drift(notebook)`` lists every such cell whose code,
once the ``### BEGIN/END SOLUTION`` fence lines are dropped, differs from the package's source.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from pathlib import Path
from typing import Any

__all__ = ["source", "show", "resolve", "strip_fences", "tagged_cells", "drift", "TAG_PREFIX"]

TAG_PREFIX = "bookshelf:"
FENCES = ("### BEGIN SOLUTION", "### END SOLUTION")


def resolve(dotted: str) -> Any:
    """The object named by ``dotted`` (a module, or an attribute inside one), imported if needed."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {dotted!r}")


def source(obj: Any) -> str:
    """The source code of a module, class or function (a dotted name works too), without indentation."""
    if isinstance(obj, str):
        obj = resolve(obj)
    return textwrap.dedent(inspect.getsource(obj)).strip() + "\n"


def show(obj: Any) -> None:
    """Display an object's source as a highlighted code block (plain text outside a notebook)."""
    code = source(obj)
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - only outside Jupyter
        print(code)
        return
    display(Markdown(f"```python\n{code}```"))


def strip_fences(code: str) -> str:
    """The code with the solution fence lines removed, trailing blanks trimmed."""
    lines = [line.rstrip() for line in code.splitlines() if line.strip() not in FENCES]
    return "\n".join(lines).strip() + "\n"


def tagged_cells(notebook: Path | str) -> list[tuple[str, str]]:
    """``(dotted name, cell code)`` for every code cell tagged ``bookshelf:<dotted name>``."""
    import nbformat

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
    """One message per tagged cell of ``notebook`` that no longer matches the package's source."""
    problems = []
    for dotted, code in tagged_cells(notebook):
        try:
            expected = source(dotted)
        except (ImportError, AttributeError, TypeError, OSError) as exc:
            problems.append(f"{Path(notebook).name}: tag {TAG_PREFIX}{dotted} names nothing showable ({exc})")
            continue
        if strip_fences(code) != strip_fences(expected):
            problems.append(f"{Path(notebook).name}: the cell tagged {TAG_PREFIX}{dotted} differs from "
                            f"the package's source: copy one onto the other")
    return problems
