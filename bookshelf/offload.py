"""Blocking work kept off the event loop (lesson 05): ``await offload(fn, *args)`` runs ``fn`` in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["offload"]

T = TypeVar("T")


async def offload(fn: Callable[..., T], *args: Any) -> T:
    """Run the blocking fn(*args) in a worker thread; return its result."""
    ### BEGIN SOLUTION
    return await asyncio.to_thread(fn, *args)
    ### END SOLUTION
