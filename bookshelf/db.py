"""The database: one aiosqlite connection in WAL mode, the schema, the seed, and every query.

Every query passes values as ``?`` parameters, never by formatting them into the SQL text.
A single connection runs one transaction at a time, so writes go through ``Database.transaction()``,
which holds an ``asyncio.Lock`` from ``BEGIN`` to ``COMMIT``: two requests can never interleave their
statements in one transaction, and a rollback never undoes another request's work. Every await inside it
may be where a cancellation lands (a client's timeout, uvicorn's shutdown), so each one is inside the
``try`` whose rollback is shielded: the connection never stays inside a transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiosqlite

from .catalogue import BookFilter
from .models import Book, ShelfEntry, Status

__all__ = ["Database", "connect", "SCHEMA", "seed_books", "SqliteCatalogue", "Shelf", "search_titles",
           "add_to_shelf", "move_between_lists", "read_entry", "DuplicateEntry", "UnknownBook", "NotOnShelf", "DatabaseBusy", "is_busy"]

SQLITE_BUSY = 5  # another connection holds the write lock and the busy timeout ran out
# BEGIN IMMEDIATE while a read statement of this same connection is still open on an older snapshot:
# fails at once (the busy timeout does not apply) and succeeds once that read has finished.
SQLITE_BUSY_SNAPSHOT = 517
SQLITE_BUSY_RECOVERY = 261

SCHEMA = """
CREATE TABLE IF NOT EXISTS books (
    id       INTEGER PRIMARY KEY,
    title    TEXT NOT NULL,
    author   TEXT NOT NULL,
    year     INTEGER NOT NULL,
    language TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS book_subjects (
    book_id  INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    subject  TEXT NOT NULL,
    PRIMARY KEY (book_id, subject)
);
CREATE INDEX IF NOT EXISTS book_subjects_by_subject ON book_subjects (subject COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS shelf (
    book_id  INTEGER PRIMARY KEY REFERENCES books(id),
    status   TEXT NOT NULL CHECK (status IN ('want_to_read', 'reading', 'read')),
    note     TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL
);
"""


class UnknownBook(LookupError):
    """The book id is not in the catalogue (the API answers 404)."""


class NotOnShelf(LookupError):
    """The book is not on the shelf (404)."""


class DuplicateEntry(ValueError):
    """The book is already on the shelf (409)."""


class DatabaseBusy(RuntimeError):
    """The database stayed locked by another process for longer than we wait (the API answers 503)."""


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" family of errors: worth retrying later, not a bug."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF == SQLITE_BUSY


class Database:
    """One aiosqlite connection plus the lock that keeps its transactions apart."""

    def __init__(self, conn: aiosqlite.Connection, *, patience: float = 5.0) -> None:
        self.conn = conn
        self.patience = patience  # seconds BEGIN keeps retrying while the database is busy
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``async with db.transaction() as conn:`` commits on success, rolls back on any error or cancellation."""
        async with self._write_lock:
            try:  # BEGIN is inside: cancelled while it runs, the transaction it opens is rolled back too
                await self._begin()
                yield self.conn
                await self.conn.execute("COMMIT")
            except BaseException:
                # Shielded: a second cancellation cannot stop the rollback (it is queued on the connection
                # before the lock is released, so the next BEGIN runs after it).
                await asyncio.shield(self._rollback())
                raise

    async def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, retried for up to ``patience`` seconds while SQLite says the database is busy."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.patience, 0.001
        while True:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                # SQLite skips its busy handler when waiting could deadlock: while this connection has a
                # read open, BEGIN IMMEDIATE fails at once (SQLITE_BUSY, or 517 if another process wrote
                # since that read began). Both succeed once the read is done, so try again until the deadline.
                if loop.time() + delay > deadline:
                    raise DatabaseBusy(f"the database stayed locked ({exc.sqlite_errorname})") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def _rollback(self) -> None:
        """``ROLLBACK`` if a transaction is open (BEGIN may have failed, or a cancelled COMMIT still ran)."""
        try:
            await self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            if self.conn.in_transaction:
                raise

    async def close(self) -> None:
        """Close the connection (and stop its worker thread)."""
        await self.conn.close()


async def connect(path: Path | str) -> Database:
    """Open the database file (created if needed) in WAL mode, with foreign keys on and the schema in place."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the new folder is the user's only
    # isolation_level=None: sqlite3 opens no hidden transactions; Database.transaction() says BEGIN/COMMIT.
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA busy_timeout=5000")  # first: other processes may be opening the file too
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        # SQLite's lower() folds ASCII only; casefold() folds like Python ("BRONTË" matches "brontë").
        await conn.create_function("casefold", 1, _casefold, deterministic=True)
        await conn.executescript(SCHEMA)
    except BaseException:
        await conn.close()
        raise
    return Database(conn)


async def seed_books(db: Database, books: Iterable[Book]) -> int:
    """Insert or update the catalogue from the seed books, in one transaction; returns the book count."""
    books = list(books)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO books (id, title, author, year, language) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET title = excluded.title, author = excluded.author, "
            "year = excluded.year, language = excluded.language",
            [(b.id, b.title, b.author, b.year, b.language) for b in books],
        )
        await conn.executemany(
            "INSERT OR IGNORE INTO book_subjects (book_id, subject) VALUES (?, ?)",
            [(b.id, s) for b in books for s in b.subjects],
        )
    return len(books)


def _casefold(text: str | None) -> str | None:
    """Python's ``str.casefold`` for SQL: Unicode-aware, unlike SQLite's ``lower()``."""
    return text.casefold() if isinstance(text, str) else text


def _where(where: BookFilter) -> tuple[str, list[object]]:
    """SQL conditions for a filter: fixed text with ``?`` placeholders, and the values that fill them."""
    clauses: list[str] = []
    params: list[object] = []
    if where.q is not None:
        clauses.append("instr(casefold(title), casefold(?)) > 0")
        params.append(where.q)
    if where.author is not None:
        clauses.append("instr(casefold(author), casefold(?)) > 0")
        params.append(where.author)
    if where.language is not None:
        clauses.append("language = ?")
        params.append(where.language)
    if where.subject is not None:
        clauses.append("id IN (SELECT book_id FROM book_subjects WHERE subject = ? COLLATE NOCASE)")
        params.append(where.subject)
    if where.year_from is not None:
        clauses.append("year >= ?")
        params.append(where.year_from)
    if where.year_to is not None:
        clauses.append("year <= ?")
        params.append(where.year_to)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SqliteCatalogue:
    """The catalogue read from the ``books`` table (lesson 04 on)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _subjects(self, ids: list[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            marks = ",".join("?" * len(ids))  # only placeholders are formatted in, never values
            async with self.db.conn.execute(
                f"SELECT book_id, subject FROM book_subjects WHERE book_id IN ({marks}) ORDER BY rowid", ids
            ) as cursor:
                async for row in cursor:
                    found[row["book_id"]].append(row["subject"])
        return found

    async def get(self, book_id: int) -> Book | None:
        """The book with this id, or ``None``."""
        async with self.db.conn.execute(
            "SELECT id, title, author, year, language FROM books WHERE id = ?", (book_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return Book(**dict(row), subjects=(await self._subjects([book_id]))[book_id])

    async def search(self, where: BookFilter, *, limit: int, offset: int) -> tuple[list[Book], int]:
        """One page of matching books in id order, and how many match in total."""
        conditions, params = _where(where)
        async with self.db.conn.execute(f"SELECT count(*) FROM books{conditions}", params) as cursor:
            total = (await cursor.fetchone())[0]
        async with self.db.conn.execute(
            f"SELECT id, title, author, year, language FROM books{conditions} ORDER BY id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ) as cursor:
            rows = [dict(row) for row in await cursor.fetchall()]
        subjects = await self._subjects([row["id"] for row in rows])
        return [Book(**row, subjects=subjects[row["id"]]) for row in rows], total


_ENTRY = ("SELECT s.book_id, b.title, b.author, s.status, s.note, s.added_at "
          "FROM shelf AS s JOIN books AS b ON b.id = s.book_id")


async def read_entry(conn: aiosqlite.Connection, book_id: int) -> ShelfEntry:
    """The shelf entry of ``book_id`` read through ``conn``; ``NotOnShelf`` if there is none."""
    async with conn.execute(_ENTRY + " WHERE s.book_id = ?", (book_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotOnShelf(book_id)
    return ShelfEntry(**dict(row))


async def search_titles(db: Database, text: str) -> list[dict]:
    """Books whose title contains `text` (any case), as [{"id": ..., "title": ...}] in id order."""
    ### BEGIN SOLUTION
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    async with db.conn.execute("SELECT id, title FROM books WHERE title LIKE ? ESCAPE '\\' ORDER BY id",
                               (f"%{escaped}%",)) as cursor:
        return [{"id": row[0], "title": row[1]} for row in await cursor.fetchall()]
    ### END SOLUTION


async def add_to_shelf(db: Database, book_id: int, status: Status = Status.want_to_read,
                       note: str = "") -> ShelfEntry:
    """Put a book on the shelf in one transaction; ``UnknownBook`` or ``DuplicateEntry`` when that cannot be done."""
    ### BEGIN SOLUTION
    added_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    async with db.transaction() as conn:
        async with conn.execute("SELECT 1 FROM books WHERE id = ?", (book_id,)) as cursor:
            if await cursor.fetchone() is None:
                raise UnknownBook(book_id)
        try:
            await conn.execute(
                "INSERT INTO shelf (book_id, status, note, added_at) VALUES (?, ?, ?, ?)",
                (book_id, Status(status).value, note, added_at),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateEntry(book_id) from exc
        return await read_entry(conn, book_id)
    ### END SOLUTION


async def move_between_lists(db: Database, moves: dict[int, Status | str]) -> list[ShelfEntry]:
    """Give each book in `moves` its new status, all in one transaction; returns the updated entries."""
    ### BEGIN SOLUTION
    async with db.transaction() as conn:
        for book_id, status in moves.items():
            cursor = await conn.execute("UPDATE shelf SET status = ? WHERE book_id = ?",
                                        (Status(status).value, book_id))
            if cursor.rowcount == 0:
                raise NotOnShelf(book_id)
        return [await read_entry(conn, book_id) for book_id in moves]
    ### END SOLUTION


class Shelf:
    """Your shelf (reading list): add, list, read, update, move and remove entries.

    Adding and moving go through replaceable parts (``parts["add_to_shelf"]``, ``parts["move_between_lists"]``),
    looked up at every call: the app passes its ``app.state.parts``, so a part swapped there is used at once.
    """

    def __init__(self, db: Database, parts: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.db = db
        self.parts = parts if parts is not None else {"add_to_shelf": add_to_shelf,
                                                      "move_between_lists": move_between_lists}

    async def add(self, book_id: int, status: Status, note: str) -> ShelfEntry:
        """Put a book on the shelf; ``UnknownBook`` or ``DuplicateEntry`` when that cannot be done."""
        return await self.parts["add_to_shelf"](self.db, book_id, status, note)

    async def move(self, moves: dict[int, Status]) -> list[ShelfEntry]:
        """Give several entries a new status, all or nothing; ``NotOnShelf`` (and no change) if one is missing."""
        return await self.parts["move_between_lists"](self.db, moves)

    async def _get(self, conn: aiosqlite.Connection, book_id: int) -> ShelfEntry:
        return await read_entry(conn, book_id)

    async def get(self, book_id: int) -> ShelfEntry:
        """The entry for this book; ``NotOnShelf`` if there is none."""
        return await self._get(self.db.conn, book_id)

    async def entries(self, status: Status | None = None) -> list[ShelfEntry]:
        """Every entry, oldest first, optionally only those with ``status``."""
        sql, params = _ENTRY, []
        if status is not None:
            sql += " WHERE s.status = ?"
            params.append(status.value)
        async with self.db.conn.execute(sql + " ORDER BY s.added_at, s.book_id", params) as cursor:
            return [ShelfEntry(**dict(row)) for row in await cursor.fetchall()]

    async def update(self, book_id: int, status: Status | None, note: str | None) -> ShelfEntry:
        """Change the status and/or the note of an entry; ``NotOnShelf`` if there is none."""
        async with self.db.transaction() as conn:
            if status is not None:
                await conn.execute("UPDATE shelf SET status = ? WHERE book_id = ?", (status.value, book_id))
            if note is not None:
                await conn.execute("UPDATE shelf SET note = ? WHERE book_id = ?", (note, book_id))
            return await self._get(conn, book_id)

    async def remove(self, book_id: int) -> None:
        """Take a book off the shelf; ``NotOnShelf`` if it was not there."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM shelf WHERE book_id = ?", (book_id,))
            if cursor.rowcount == 0:
                raise NotOnShelf(book_id)

    async def count(self) -> int:
        """How many books are on the shelf."""
        async with self.db.conn.execute("SELECT count(*) FROM shelf") as cursor:
            return (await cursor.fetchone())[0]
