"""Simulated third-party services: ratings, prices (with availability) and covers.

In production these would be other companies' HTTP APIs. The course runs its own stand-ins so that
every lesson works offline and reproducibly: each is a small FastAPI app whose answers are fixed per
book, and whose latency, jitter and failure rate are set by a :class:`~bookshelf.settings.Behaviour`.
Randomness comes from ``random.Random`` seeded with (service, seed, book id, n-th call for that book),
so a run is reproducible even when calls arrive concurrently in a different order.

Change a running service's behaviour with ``set_behaviour(app, Behaviour(latency=1.0))``.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from fastapi import FastAPI, HTTPException, Path

from .settings import Behaviour

__all__ = ["make_upstream", "set_behaviour", "UPSTREAM_PATHS", "Stats"]

# Where each service answers for one book: the app's clients call f"{base_url}{path}".
UPSTREAM_PATHS = {"ratings": "/ratings/{book_id}", "prices": "/prices/{book_id}", "covers": "/covers/{book_id}"}


class Stats:
    """What a simulated service has seen: calls per book, requests in flight now and at most."""

    def __init__(self) -> None:
        self.calls: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.failures = 0

    @property
    def total(self) -> int:
        """All calls so far."""
        return sum(self.calls.values())


def _answer(name: str, seed: int, book_id: int) -> dict[str, Any]:
    """The service's fixed answer for one book (the same on every call and every run)."""
    rng = random.Random(f"{name}:{seed}:{book_id}")
    if name == "ratings":
        return {"book_id": book_id, "average": round(rng.uniform(2.5, 5.0), 2), "count": rng.randint(3, 5000)}
    if name == "prices":
        return {"book_id": book_id, "amount": round(rng.uniform(3.0, 30.0), 2), "currency": "EUR",
                "in_stock": rng.random() < 0.8}
    return {"book_id": book_id, "url": f"https://covers.example.org/{book_id}.jpg"}


def make_upstream(name: str, behaviour: Behaviour | None = None, *, seed: int = 42) -> FastAPI:
    """A simulated ``ratings``, ``prices`` or ``covers`` service (see the module docstring)."""
    if name not in UPSTREAM_PATHS:
        raise ValueError(f"unknown upstream {name!r}: choose from {sorted(UPSTREAM_PATHS)}")
    app = FastAPI(title=f"Simulated {name} service",
                  description="A stand-in for a third-party API, run by the course (latency and "
                              "failures are simulated).")
    app.state.behaviour = behaviour or Behaviour()
    app.state.seed = seed
    app.state.stats = Stats()

    @app.get(UPSTREAM_PATHS[name])
    async def answer(book_id: int = Path(ge=1)) -> dict[str, Any]:
        stats: Stats = app.state.stats
        b: Behaviour = app.state.behaviour
        n = stats.calls[book_id]
        stats.calls[book_id] += 1
        rng = random.Random(f"{name}:{app.state.seed}:{book_id}:call{n}")
        delay = max(0.0, b.latency + rng.uniform(-b.jitter, b.jitter))
        fails = rng.random() < b.failure_rate
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            await asyncio.sleep(delay)
        finally:
            stats.in_flight -= 1
        if fails:
            stats.failures += 1
            raise HTTPException(503, f"{name} service unavailable (simulated failure)")
        return _answer(name, app.state.seed, book_id)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"service": name, "status": "ok"}

    return app


def set_behaviour(app: FastAPI, behaviour: Behaviour) -> None:
    """Change how a running simulated service behaves from its next request on."""
    app.state.behaviour = behaviour
