"""An event-loop lag monitor (lesson 05): how late does a task that asked to sleep ``interval`` wake up?

On a free loop the lag is a fraction of a millisecond; while something blocks the loop (``time.sleep``,
CPU-heavy code in an ``async def``), every other task, this one included, wakes up late by that much.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["LagMonitor"]


class LagMonitor:
    """Sleep ``interval`` seconds in a loop and record how much later than asked each wake-up came."""

    def __init__(self, interval: float = 0.05, keep: int = 200) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=keep)
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - start - self.interval)
            self.samples.append(lag)
            self.max_lag = max(self.max_lag, lag)

    def start(self) -> None:
        """Start measuring on the running loop (a second call does nothing)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="bookshelf-lag-monitor")

    async def stop(self) -> None:
        """Stop measuring and wait until the task is gone."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reset(self) -> None:
        """Forget the samples so far."""
        self.samples.clear()
        self.max_lag = 0.0

    def report(self) -> dict[str, float | int]:
        """Lag figures in milliseconds: the last wake-up, the worst seen, and the number of samples."""
        last = self.samples[-1] if self.samples else 0.0
        return {"interval_ms": self.interval * 1000, "last_lag_ms": round(last * 1000, 3),
                "max_lag_ms": round(self.max_lag * 1000, 3), "samples": len(self.samples)}
