"""Configuration of the Bookshelf app: defaults that just work, overridable from the environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

__all__ = ["Behaviour", "Settings", "DATA_FILE", "default_database"]

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = ROOT / "data" / "books.csv"
UPSTREAMS = ("ratings", "prices", "covers")


def default_database(environ: Mapping[str, str] | None = None) -> Path:
    """``bookshelf.db`` in the user's own data folder: ``$XDG_DATA_HOME/bookshelf`` (``~/.local/share/bookshelf``).

    Not in the shared temp folder, where other users' processes can reach it and a clean-up deletes it.
    On Windows the folder is ``%LOCALAPPDATA%\\bookshelf``.
    """
    env = os.environ if environ is None else environ
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        base = Path(env["LOCALAPPDATA"])
    elif env.get("XDG_DATA_HOME") and Path(env["XDG_DATA_HOME"]).is_absolute():
        base = Path(env["XDG_DATA_HOME"])
    else:
        base = Path.home() / ".local" / "share"
    return base / "bookshelf" / "bookshelf.db"


@dataclass(frozen=True)
class Behaviour:
    """How a simulated upstream behaves: ``latency`` +- ``jitter`` seconds, failing ``failure_rate`` of calls."""

    latency: float = 0.05
    jitter: float = 0.02
    failure_rate: float = 0.0


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to start. ``Settings()`` works offline with no setup at all.

    An upstream URL left as ``None`` means "start the simulated service for it": as a real HTTP server
    in a background thread (``simulate="thread"``, :mod:`bookshelf.threadserver`) or mounted in-process on the
    app's HTTP client (``simulate="inprocess"``, no sockets: what the tests use).
    """

    database: Path | str = field(default_factory=default_database)
    books_file: Path = DATA_FILE
    ratings_url: str | None = None
    prices_url: str | None = None
    covers_url: str | None = None
    simulate: Literal["thread", "inprocess"] = "thread"
    ratings: Behaviour = Behaviour(latency=0.05)
    prices: Behaviour = Behaviour(latency=0.08)
    covers: Behaviour = Behaviour(latency=0.03)
    seed: int = 42
    upstream_timeout: float = 1.0  # seconds allowed for each upstream call
    max_connections: int = 100
    max_keepalive_connections: int = 20
    workers: int = 4  # background job workers (lesson 06)
    max_body_bytes: int = 64 * 1024  # larger request bodies are refused with 413 before they are parsed
    max_queued: int = 10_000  # ratings refresher: books waiting at most; more is refused with 503
    max_jobs: int = 1_000  # finished jobs kept for GET /jobs/{id}; the oldest are pruned
    max_cached_ratings: int = 10_000  # cached ratings kept; the least recently refreshed are dropped
    # Shared backends for several processes (``uvicorn --workers N``). ``None``: SQLite (``database``) and state
    # kept in this process. A ``postgresql://`` URL moves the database to PostgreSQL (:mod:`bookshelf.pg`), a
    # ``redis://`` URL moves job ids, the ratings queue and the rating cache to Redis (:mod:`bookshelf.shared_state`).
    database_url: str | None = None
    redis_url: str | None = None
    db_pool_size: int = 5  # PostgreSQL connections per process: workers x this must stay under max_connections
    redis_prefix: str = "bookshelf:"  # every Redis key starts with it: several apps can share one server
    rating_ttl: float = 3600.0  # seconds a rating cached in Redis stays valid
    reclaim_after: float = 5.0  # seconds before a queued rating a dead process had taken is handed to another

    def with_behaviour(self, **behaviours: Behaviour) -> "Settings":
        """A copy with some upstreams' behaviour replaced, e.g. ``s.with_behaviour(ratings=Behaviour(0.2))``."""
        unknown = set(behaviours) - set(UPSTREAMS)
        if unknown:
            raise ValueError(f"unknown upstream(s) {sorted(unknown)}: choose from {UPSTREAMS}")
        return replace(self, **behaviours)

    def upstream_url(self, name: str) -> str | None:
        """The configured URL of upstream ``name``, or ``None`` when it is simulated."""
        return {"ratings": self.ratings_url, "prices": self.prices_url, "covers": self.covers_url}[name]

    @classmethod
    def ephemeral(cls, **changes: object) -> "Settings":
        """Settings for tests and notebooks: in-process simulated upstreams and an in-memory database."""
        return replace(cls(database=":memory:", simulate="inprocess"), **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from ``BOOKSHELF_*`` environment variables; anything unset keeps its default.

        ``BOOKSHELF_DB`` (database file), ``BOOKSHELF_BOOKS`` (seed CSV), ``BOOKSHELF_RATINGS_URL``,
        ``BOOKSHELF_PRICES_URL``, ``BOOKSHELF_COVERS_URL`` (real upstreams), ``BOOKSHELF_SIMULATE``
        (``thread`` or ``inprocess``), ``BOOKSHELF_SEED``, ``BOOKSHELF_UPSTREAM_TIMEOUT``,
        ``BOOKSHELF_LATENCY`` and ``BOOKSHELF_FAILURE_RATE`` (all simulated upstreams),
        ``BOOKSHELF_DATABASE_URL`` (``postgresql://...``: PostgreSQL instead of SQLite), ``BOOKSHELF_DB_POOL_SIZE``,
        ``BOOKSHELF_REDIS_URL`` (``redis://...``: shared state in Redis), ``BOOKSHELF_REDIS_PREFIX`` and
        ``BOOKSHELF_RECLAIM_AFTER`` (seconds before a dead process's queued work goes to another).
        """
        env = os.environ if environ is None else environ
        settings = cls()
        changes: dict[str, object] = {}
        if env.get("BOOKSHELF_DB"):
            changes["database"] = env["BOOKSHELF_DB"]
        if env.get("BOOKSHELF_BOOKS"):
            changes["books_file"] = Path(env["BOOKSHELF_BOOKS"])
        for name in UPSTREAMS:
            url = env.get(f"BOOKSHELF_{name.upper()}_URL")
            if url:
                changes[f"{name}_url"] = url.rstrip("/")
        if env.get("BOOKSHELF_SIMULATE"):
            mode = env["BOOKSHELF_SIMULATE"]
            if mode not in ("thread", "inprocess"):
                raise ValueError(f"BOOKSHELF_SIMULATE must be 'thread' or 'inprocess', not {mode!r}")
            changes["simulate"] = mode
        if env.get("BOOKSHELF_SEED"):
            changes["seed"] = int(env["BOOKSHELF_SEED"])
        if env.get("BOOKSHELF_UPSTREAM_TIMEOUT"):
            changes["upstream_timeout"] = float(env["BOOKSHELF_UPSTREAM_TIMEOUT"])
        if env.get("BOOKSHELF_DATABASE_URL"):
            url = env["BOOKSHELF_DATABASE_URL"]
            if not url.startswith(("postgresql://", "postgres://")):
                raise ValueError(f"BOOKSHELF_DATABASE_URL must start with postgresql://, not {url.split(':')[0]!r}"
                                 " (for SQLite set BOOKSHELF_DB to a file path)")
            changes["database_url"] = url
        if env.get("BOOKSHELF_DB_POOL_SIZE"):
            changes["db_pool_size"] = int(env["BOOKSHELF_DB_POOL_SIZE"])
        if env.get("BOOKSHELF_REDIS_URL"):
            url = env["BOOKSHELF_REDIS_URL"]
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"BOOKSHELF_REDIS_URL must start with redis://, not {url.split(':')[0]!r}")
            changes["redis_url"] = url
        if env.get("BOOKSHELF_REDIS_PREFIX"):
            changes["redis_prefix"] = env["BOOKSHELF_REDIS_PREFIX"]
        if env.get("BOOKSHELF_RECLAIM_AFTER"):
            changes["reclaim_after"] = float(env["BOOKSHELF_RECLAIM_AFTER"])
        latency, failure = env.get("BOOKSHELF_LATENCY"), env.get("BOOKSHELF_FAILURE_RATE")
        if latency or failure:
            for name in UPSTREAMS:
                old: Behaviour = getattr(settings, name)
                changes[name] = Behaviour(float(latency) if latency else old.latency, old.jitter,
                                          float(failure) if failure else old.failure_rate)
        return replace(settings, **changes)
