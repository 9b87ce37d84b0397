"""Show code in a notebook: ``show(bookshelf.db.connect)`` displays the source of the course's own code.

Lessons show the Bookshelf app's code instead of copying it, so the lesson and the app cannot drift apart.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from typing import Any

__all__ = ["source", "show", "resolve", "reflow", "WIDTH"]

WIDTH = 100
"""Columns a notebook's output area shows without wrapping (JupyterLab, default font, a 1280-pixel window
with the file browser open). Docstrings and comments are re-flowed to it, so no word is split at the edge."""


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


def _docstring_lines(code: str) -> set[int]:
    """The (0-based) line numbers of the docstrings in ``code``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str) and first.end_lineno is not None):
                lines.update(range(first.lineno - 1, first.end_lineno))
    return lines


def reflow(code: str, width: int = WIDTH) -> str:
    """``code`` with its docstring and comment lines longer than ``width`` wrapped between words.

    Code itself is left alone (re-wrapping it could change its meaning); only prose lines are wrapped,
    each continuation indented like the line it came from.
    """
    doc = _docstring_lines(code)
    out: list[str] = []
    for number, line in enumerate(code.splitlines()):
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if len(line) <= width:
            out.append(line)
        elif number in doc:
            out.extend(textwrap.wrap(stripped, width, initial_indent=indent, subsequent_indent=indent,
                                     break_long_words=False, break_on_hyphens=False) or [line])
        elif stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            out.extend(textwrap.wrap(text, width, initial_indent=indent + "# ", subsequent_indent=indent + "# ",
                                     break_long_words=False, break_on_hyphens=False) or [line])
        else:
            out.append(line)
    return "\n".join(out) + ("\n" if code.endswith("\n") else "")


def show(obj: Any, width: int = WIDTH) -> None:
    """Display an object's source as a highlighted code block (plain text outside a notebook).

    Docstrings and comments are wrapped to ``width`` columns, the width the output area shows.
    """
    code = reflow(source(obj), width)
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - only outside Jupyter
        print(code)
        return
    display(Markdown(f"```python\n{code}```"))
