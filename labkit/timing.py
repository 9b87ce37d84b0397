"""Time a sequential workload against a concurrent one and report what concurrency bought.

Every number a lesson prints comes from here, measured in the learner's own run: medians of
several repeats, the speedup (sequential median / concurrent median), and the efficiency
against the ideal speedup the lesson names (for N equal waits the ideal is N).

Set the environment variable ``LABKIT_QUICK=1`` to shrink sizes and repeats (CI does): the
same code paths run, only smaller. Lessons ask :func:`pick` for their sizes.
"""

from __future__ import annotations

import inspect
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["percent", "quick", "pick", "Timing", "Comparison", "measure", "ameasure", "compare", "Stopwatch"]

T = TypeVar("T")


def quick() -> bool:
    """True when ``LABKIT_QUICK`` is set to a true value (1, yes, true, on)."""
    return os.environ.get("LABKIT_QUICK", "").strip().lower() in {"1", "yes", "true", "on"}


def pick(full: T, quick_value: T) -> T:
    """``full`` normally, ``quick_value`` when ``LABKIT_QUICK`` is set."""
    return quick_value if quick() else full


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start



def percent(fraction: float) -> str:
    """``0.953`` -> ``"95%"``; below 1% one decimal, so a small share never prints as ``"0%"``."""
    return f"{fraction:.1%}" if abs(fraction) < 0.01 else f"{fraction:.0%}"

@dataclass
class Timing:
    """Wall-clock seconds of several runs of one workload."""

    label: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    def __str__(self) -> str:
        runs = ", ".join(f"{s:.3f}" for s in self.seconds)
        return f"{self.label}: median {self.median:.3f} s over {len(self.seconds)} run(s) [{runs}]"


def measure(fn: Callable[[], Any], *, repeat: int = 3, label: str = "") -> Timing:
    """Run a plain function ``repeat`` times and time each run."""
    timing = Timing(label or getattr(fn, "__name__", "workload"))
    for _ in range(repeat):
        with Stopwatch() as sw:
            fn()
        timing.seconds.append(sw.seconds)
    return timing


async def ameasure(fn: Callable[[], Awaitable[Any]], *, repeat: int = 3, label: str = "") -> Timing:
    """Await a coroutine function ``repeat`` times and time each run."""
    timing = Timing(label or getattr(fn, "__name__", "workload"))
    for _ in range(repeat):
        with Stopwatch() as sw:
            await fn()
        timing.seconds.append(sw.seconds)
    return timing


@dataclass
class Comparison:
    """A baseline (e.g. sequential) against a contender (e.g. concurrent), with an ideal speedup."""

    baseline: Timing
    contender: Timing
    ideal: float | None = None

    @property
    def speedup(self) -> float:
        """How many times faster the contender's median is than the baseline's."""
        return self.baseline.median / self.contender.median

    @property
    def efficiency(self) -> float | None:
        """Speedup as a fraction of the ideal (1.0 = perfect), or None without an ideal."""
        return None if not self.ideal else self.speedup / self.ideal

    def summary(self) -> str:
        """One sentence with the measured numbers."""
        text = (f"{self.contender.label} took {self.contender.median:.3f} s, {self.baseline.label} "
                f"{self.baseline.median:.3f} s: {self.speedup:.1f}x faster")
        if self.efficiency is not None:
            text += f" ({percent(self.efficiency)} of the ideal {self.ideal:g}x)"
        return text

    def table(self) -> str:
        """A small fixed-width table of medians, best runs and the speedup."""
        rows = [("workload", "median s", "best s", "runs")]
        for t in (self.baseline, self.contender):
            rows.append((t.label, f"{t.median:.3f}", f"{t.best:.3f}", str(len(t.seconds))))
        width = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, width)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in width))
        lines.append(f"speedup: {self.speedup:.1f}x" +
                     (f"  (ideal {self.ideal:g}x, efficiency {percent(self.efficiency)})" if self.ideal else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


async def compare(baseline: Callable[[], Any], contender: Callable[[], Any], *, repeat: int = 3,
                  ideal: float | None = None, labels: tuple[str, str] = ("sequential", "concurrent"),
                  warmup: bool = True) -> Comparison:
    """Time two workloads, each either a plain function or a coroutine function.

    A plain function runs directly (blocking the caller's loop while it runs, as a sync client
    does); a coroutine function is awaited. One untimed warm-up run of each comes first unless
    ``warmup=False`` (it opens connections and imports lazily loaded code).
    """

    async def timed(fn: Callable[[], Any], label: str) -> Timing:
        if inspect.iscoroutinefunction(fn):
            if warmup:
                await fn()
            return await ameasure(fn, repeat=repeat, label=label)
        if warmup:
            fn()
        return measure(fn, repeat=repeat, label=label)

    base = await timed(baseline, labels[0])
    cont = await timed(contender, labels[1])
    return Comparison(base, cont, ideal)
