"""Stand-ins for lesson 07 (see the package docstring): not the answers, they do less."""

from __future__ import annotations

from typing import Any


def install_nothing(app: Any, *args: Any) -> None:
    """Lesson 07's installers reduced to nothing: no request ids, no JSON errors, FastAPI's defaults only."""
