"""Show code in a notebook: ``show(bookshelf.db.connect)`` displays the source of the course's own code.

Lessons show the Bookshelf app's code instead of copying it, so the lesson and the app cannot drift apart.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from typing import Any

__all__ = ["source", "show", "resolve"]



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
