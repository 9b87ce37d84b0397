"""The database on PostgreSQL through asyncpg: chosen by ``BOOKSHELF_DATABASE_URL=postgresql://...``.

The same tables, seed and queries as :mod:`bookshelf.db` (SQLite), for several processes at once:

* a **pool** of ``Settings.db_pool_size`` connections per process (``uvicorn --workers 4`` with a pool of 5 holds
  up to 20 server connections: keep ``workers x pool size`` under the server's ``max_connections``);
* **transactions** from the pool (``async with db.transaction() as conn``): each request gets its own
  connection, so no lock is needed in the app; the server keeps concurrent transactions apart;
* ``ON CONFLICT`` where SQLite uses its upsert (``ON CONFLICT ... DO UPDATE``, ``INSERT OR IGNORE``);
* ``$1, $2`` parameters, never values formatted into the SQL text; asyncpg prepares each statement once per
  connection and reuses it.

Startup is safe with several processes starting together: the schema and the seed run under a transaction-level
advisory lock, one process after the other. ``PgDatabase.conn`` answers ``conn.execute(sql, params)`` with
SQLite's ``?`` parameters for read queries written for :mod:`bookshelf.db` (lesson 09's ``CANDIDATES_SQL``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import asyncpg

from .catalogue import BookFilter
from .db import DuplicateEntry, NotOnShelf, Shelf, UnknownBook
from .models import Book, ShelfEntry, Status

__all__ = ["UnstorableText", "PgDatabase", "connect", "SCHEMA", "seed_books", "PgCatalogue", "PgShelf", "search_titles",
           "add_to_shelf", "move_between_lists", "read_entry", "PARTS", "redact"]

SEED_LOCK = 0x626F6F6B  # "book": the advisory lock that runs one process's schema and seed at a time

# SQLite's schema (bookshelf.db.SCHEMA) in PostgreSQL's words. SQLite keeps a book's subjects in insertion
# order by rowid; here ``position`` says it.
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
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (book_id, subject)
);
CREATE INDEX IF NOT EXISTS book_subjects_by_subject ON book_subjects (lower(subject));
CREATE TABLE IF NOT EXISTS shelf (
    book_id  INTEGER PRIMARY KEY REFERENCES books(id),
    status   TEXT NOT NULL CHECK (status IN ('want_to_read', 'reading', 'read')),
    note     TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL
);
"""


class UnstorableText(ValueError):
    """Text PostgreSQL cannot store: a NUL character, or a lone surrogate (not UTF-8). The API answers 422."""


def storable(field: str, text: str) -> str:
    """``text`` if PostgreSQL can store it in a ``TEXT`` column, else ``UnstorableText`` naming ``field``."""
    if "\x00" in text:
        raise UnstorableText(f"{field} must not contain the NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnstorableText(f"{field} must be valid Unicode text (it holds a lone surrogate)") from None
    return text


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def _dollars(sql: str) -> str:
    """SQLite's ``?`` parameters as PostgreSQL's ``$1, $2, ...`` (outside quoted text)."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    n = 0

    def number(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return "".join(p if i % 2 else re.sub(r"\?", number, p) for i, p in enumerate(parts))


class _Rows:
    """What ``conn.execute(...)`` returns: awaitable, or an ``async with`` block, with ``fetchone``/``fetchall``."""

    def __init__(self, pool: asyncpg.Pool, sql: str, params: Sequence[Any]) -> None:
        self._pool, self._sql, self._params = pool, _dollars(sql), list(params)
        self._rows: list[asyncpg.Record] | None = None

    async def _run(self) -> "_Rows":
        self._rows = await self._pool.fetch(self._sql, *self._params)
        return self

    def __await__(self) -> Any:
        return self._run().__await__()

    async def __aenter__(self) -> "_Rows":
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def fetchone(self) -> asyncpg.Record | None:
        assert self._rows is not None
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[asyncpg.Record]:
        assert self._rows is not None
        rows, self._rows = self._rows, []
        return rows

    def __aiter__(self) -> AsyncIterator[asyncpg.Record]:
        async def rows() -> AsyncIterator[asyncpg.Record]:
            for row in await self.fetchall():
                yield row
        return rows()


class _SqliteStyleReads:
    """``db.conn.execute(sql, params)`` for read queries written with SQLite's ``?`` parameters."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        return _Rows(self._pool, sql, params)


class PgDatabase:
    """An asyncpg pool; ``transaction()`` lends one of its connections inside a transaction."""

    kind = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str, *, fold: str = "") -> None:
        self.pool = pool
        self.url = url
        self.conn = _SqliteStyleReads(pool)
        self.fold = fold  # ' COLLATE "und-x-icu"' when the server has ICU: lower() then folds beyond ASCII

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """``async with db.transaction() as conn:`` commits on success, rolls back on any error or cancellation."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        """Close every connection of the pool (waits for the ones lent out, at most 10 s)."""
        try:
            await self.pool.close()
        except TimeoutError:  # pragma: no cover - a request still holds a connection at shutdown
            self.pool.terminate()

    def __str__(self) -> str:
        return f"PostgreSQL {redact(self.url)}"


async def connect(url: str, *, pool_size: int = 5) -> PgDatabase:
    """A pool of up to ``pool_size`` connections to ``url``, with the schema in place."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, command_timeout=30,
                                     server_settings={"application_name": "bookshelf"})
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SEED_LOCK)
            await conn.execute(SCHEMA)
        # With a C locale lower() folds ASCII only; ICU's root collation folds "BRONTË" to "brontë" like Python.
        icu = await pool.fetchval("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'")
    except BaseException:
        pool.terminate()
        raise
    return PgDatabase(pool, url, fold=' COLLATE "und-x-icu"' if icu else "")


async def seed_books(db: PgDatabase, books: Iterable[Book]) -> int:
    """Insert or update the catalogue from the seed books, in one transaction; returns the book count."""
    books = list(books)
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SEED_LOCK)  # processes seed one at a time
        await conn.executemany(
            "INSERT INTO books (id, title, author, year, language) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET title = excluded.title, author = excluded.author, "
            "year = excluded.year, language = excluded.language",
            [(b.id, b.title, b.author, b.year, b.language) for b in books],
        )
        await conn.executemany(
            "INSERT INTO book_subjects (book_id, subject, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            [(b.id, s, i) for b in books for i, s in enumerate(b.subjects)],
        )
    return len(books)


def _where(where: BookFilter, fold: str = "") -> tuple[str, list[object]]:
    """SQL conditions for a filter: fixed text with ``$n`` placeholders, and the values that fill them."""
    clauses: list[str] = []
    params: list[object] = []

    def arg(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    if where.q is not None:
        clauses.append(f"strpos(lower(title{fold}), lower({arg(where.q)}{fold})) > 0")
    if where.author is not None:
        clauses.append(f"strpos(lower(author{fold}), lower({arg(where.author)}{fold})) > 0")
    if where.language is not None:
        clauses.append(f"language = {arg(where.language)}")
    if where.subject is not None:
        clauses.append(f"id IN (SELECT book_id FROM book_subjects WHERE lower(subject) = lower({arg(where.subject)}))")
    if where.year_from is not None:
        clauses.append(f"year >= {arg(where.year_from)}")
    if where.year_to is not None:
        clauses.append(f"year <= {arg(where.year_to)}")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class PgCatalogue:
    """The catalogue read from the ``books`` table."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    async def _subjects(self, ids: list[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            rows = await self.db.pool.fetch("SELECT book_id, subject FROM book_subjects WHERE book_id = ANY($1) "
                                            "ORDER BY book_id, position", ids)
            for row in rows:
                found[row["book_id"]].append(row["subject"])
        return found

    async def get(self, book_id: int) -> Book | None:
        """The book with this id, or ``None``."""
        row = await self.db.pool.fetchrow("SELECT id, title, author, year, language FROM books WHERE id = $1",
                                          book_id)
        if row is None:
            return None
        return Book(**dict(row), subjects=(await self._subjects([book_id]))[book_id])

    async def search(self, where: BookFilter, *, limit: int, offset: int) -> tuple[list[Book], int]:
        """One page of matching books in id order, and how many match in total."""
        conditions, params = _where(where, self.db.fold)
        n = len(params)
        async with self.db.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            total = await conn.fetchval(f"SELECT count(*) FROM books{conditions}", *params)
            rows = [dict(row) for row in await conn.fetch(
                f"SELECT id, title, author, year, language FROM books{conditions} ORDER BY id "
                f"LIMIT ${n + 1} OFFSET ${n + 2}", *params, limit, offset)]
        subjects = await self._subjects([row["id"] for row in rows])
        return [Book(**row, subjects=subjects[row["id"]]) for row in rows], total


_ENTRY = ("SELECT s.book_id, b.title, b.author, s.status, s.note, s.added_at "
          "FROM shelf AS s JOIN books AS b ON b.id = s.book_id")


async def read_entry(conn: asyncpg.Connection | asyncpg.Pool, book_id: int) -> ShelfEntry:
    """The shelf entry of ``book_id`` read through ``conn``; ``NotOnShelf`` if there is none."""
    row = await conn.fetchrow(_ENTRY + " WHERE s.book_id = $1", book_id)
    if row is None:
        raise NotOnShelf(book_id)
    return ShelfEntry(**dict(row))


def _updated(status: str) -> int:
    """How many rows an ``UPDATE``/``DELETE`` changed, from asyncpg's status text (``"UPDATE 1"``)."""
    return int(status.rsplit(" ", 1)[-1])


async def search_titles(db: PgDatabase, text: str) -> list[dict]:
    """Books whose title contains `text` (any case), as [{"id": ..., "title": ...}] in id order."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await db.pool.fetch("SELECT id, title FROM books WHERE title ILIKE $1 ESCAPE '\\' ORDER BY id",
                               f"%{escaped}%")
    return [{"id": row["id"], "title": row["title"]} for row in rows]


async def add_to_shelf(db: PgDatabase, book_id: int, status: Status = Status.want_to_read,
                       note: str = "") -> ShelfEntry:
    """Put a book on the shelf in one transaction; ``UnknownBook`` or ``DuplicateEntry`` when that cannot be done."""
    added_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    storable("note", note)
    async with db.transaction() as conn:
        if await conn.fetchval("SELECT 1 FROM books WHERE id = $1", book_id) is None:
            raise UnknownBook(book_id)
        inserted = await conn.fetchval(
            "INSERT INTO shelf (book_id, status, note, added_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (book_id) DO NOTHING RETURNING book_id",
            book_id, Status(status).value, note, added_at)
        if inserted is None:
            raise DuplicateEntry(book_id)
        return await read_entry(conn, book_id)


async def move_between_lists(db: PgDatabase, moves: dict[int, Status | str]) -> list[ShelfEntry]:
    """Give each book in `moves` its new status, all in one transaction; returns the updated entries."""
    async with db.transaction() as conn:
        for book_id, status in moves.items():
            done = await conn.execute("UPDATE shelf SET status = $1 WHERE book_id = $2", Status(status).value, book_id)
            if _updated(done) == 0:
                raise NotOnShelf(book_id)
        return [await read_entry(conn, book_id) for book_id in moves]


# The database parts of ``create_app`` (see ``bookshelf.app.default_parts``) when the database is PostgreSQL.
PARTS = {"search_titles": search_titles, "add_to_shelf": add_to_shelf, "move_between_lists": move_between_lists}


class PgShelf(Shelf):
    """:class:`bookshelf.db.Shelf` on PostgreSQL: the same methods, the parts looked up at every call."""

    db: PgDatabase  # type: ignore[assignment]

    async def _get(self, conn: Any, book_id: int) -> ShelfEntry:
        return await read_entry(conn, book_id)

    async def get(self, book_id: int) -> ShelfEntry:
        """The entry for this book; ``NotOnShelf`` if there is none."""
        return await read_entry(self.db.pool, book_id)

    async def entries(self, status: Status | None = None) -> list[ShelfEntry]:
        """Every entry, oldest first, optionally only those with ``status``."""
        if status is None:
            rows = await self.db.pool.fetch(_ENTRY + " ORDER BY s.added_at, s.book_id")
        else:
            rows = await self.db.pool.fetch(_ENTRY + " WHERE s.status = $1 ORDER BY s.added_at, s.book_id",
                                            status.value)
        return [ShelfEntry(**dict(row)) for row in rows]

    async def update(self, book_id: int, status: Status | None, note: str | None) -> ShelfEntry:
        """Change the status and/or the note of an entry; ``NotOnShelf`` if there is none."""
        if note is not None:
            storable("note", note)
        async with self.db.transaction() as conn:
            if status is not None:
                await conn.execute("UPDATE shelf SET status = $1 WHERE book_id = $2", status.value, book_id)
            if note is not None:
                await conn.execute("UPDATE shelf SET note = $1 WHERE book_id = $2", note, book_id)
            return await read_entry(conn, book_id)

    async def remove(self, book_id: int) -> None:
        """Take a book off the shelf; ``NotOnShelf`` if it was not there."""
        if _updated(await self.db.pool.execute("DELETE FROM shelf WHERE book_id = $1", book_id)) == 0:
            raise NotOnShelf(book_id)

    async def count(self) -> int:
        """How many books are on the shelf."""
        return await self.db.pool.fetchval("SELECT count(*) FROM shelf")
