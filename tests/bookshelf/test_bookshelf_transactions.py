"""Transactions under cancellation: whatever await a cancellation hits, the connection ends outside any
transaction, and later transactions and plain writes commit (a second connection sees them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiosqlite
import pytest

from bookshelf.catalogue import load_books
from bookshelf.db import Database, connect, seed_books
from bookshelf.settings import DATA_FILE

pytestmark = pytest.mark.anyio

STATEMENTS = 4  # BEGIN, INSERT, UPDATE, COMMIT: the awaits of `write` below


async def write(db: Database, book_id: int) -> None:
    """A two-statement transaction: the shape of every write in the app."""
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO shelf (book_id, status, note, added_at) VALUES (?, 'reading', '', 'x')",
                           (book_id,))
        await conn.execute("UPDATE shelf SET note = 'done' WHERE book_id = ?", (book_id,))


def cancel_at(db: Database, *calls: int) -> list[str]:
    """Make the ``calls``-th ``db.conn.execute`` calls cancel their task just after queuing the statement.

    That is what a cancellation from outside (a timeout, uvicorn's shutdown) does at that await: the
    statement still runs in aiosqlite's thread, the awaiting task gets ``CancelledError``.
    """
    real: Callable[..., Awaitable[object]] = db.conn.execute
    seen: list[str] = []

    def execute(sql: str, *args: object):  # type: ignore[no-untyped-def]
        seen.append(sql)
        if len(seen) in calls:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return real(sql, *args)

    db.conn.execute = execute  # type: ignore[method-assign]
    return seen


async def committed(path: str, sql: str) -> int:
    """A count read through a second connection: only committed rows are visible there."""
    async with aiosqlite.connect(path) as other:
        async with other.execute(sql) as cursor:
            return (await cursor.fetchone())[0]


@pytest.mark.parametrize("also_cancel_cleanup", [False, True], ids=["once", "again-during-cleanup"])
@pytest.mark.parametrize("at", range(1, STATEMENTS + 1))
async def test_a_cancelled_transaction_leaves_the_connection_usable(tmp_path, at, also_cancel_cleanup):
    path = str(tmp_path / "cancel.db")
    db = await connect(path)
    try:
        await seed_books(db, load_books(DATA_FILE)[:10])
        real = db.conn.execute
        seen = cancel_at(db, at, at + 1) if also_cancel_cleanup else cancel_at(db, at)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(write(db, 1))
        assert len(seen) >= at, seen
        db.conn.execute = real  # type: ignore[method-assign]
        await asyncio.wait_for(db.conn.execute("SELECT 1"), 5)  # every queued statement has run
        assert not db.conn.in_transaction, f"cancelled at {seen[at - 1]!r}: the connection is still in a transaction"

        await asyncio.wait_for(write(db, 2), 5)  # a later transaction works...
        await db.conn.execute("INSERT INTO shelf (book_id, status, note, added_at) VALUES (3, 'read', '', 'x')")
        assert await committed(path, "SELECT count(*) FROM shelf WHERE book_id IN (2, 3)") == 2  # ...and commits
        rows = await committed(path, "SELECT count(*) FROM shelf WHERE book_id = 1")
        assert rows == (1 if seen[at - 1] == "COMMIT" else 0)  # all or nothing: only a queued COMMIT keeps it
    finally:
        await db.close()
