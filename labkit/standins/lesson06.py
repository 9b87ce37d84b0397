"""Stand-ins for lesson 06 (see the package docstring): not the answers, they do less."""

from __future__ import annotations

from typing import Any


async def stop_now(self: Any, drain: float = 2.0) -> None:
    """The refresher's ``stop`` reduced to cancelling its workers: nothing queued is drained or awaited."""
    for task in self._tasks:
        task.cancel()


def _bookshelf_app() -> Any:
    """The course's app at stage 6 with a stand-in for every part you write (settings from the environment)."""
    from bookshelf import Settings, create_app

    from ..myshelf import stand_in_parts

    return create_app(Settings.from_env(), stage=6, parts=stand_in_parts(6))


def __getattr__(name: str) -> Any:
    # built on first use only (``uvicorn labkit.standins.lesson06:bookshelf_app``), never at import
    if name == "bookshelf_app":
        return _bookshelf_app()
    raise AttributeError(name)
