"""Lesson 04 (An async database with aiosqlite): checks of the three exercises.

Every check opens its own in-memory database with ``bookshelf.db.connect`` (so it has the app's schema,
WAL pragma and ``Database.transaction()``), seeds what it needs, calls the learner's function, and closes
the database whatever happens. Checks look at the table afterwards; the title search's check also reads the
SQL text the learner's code sends (before SQLite binds any parameter), to make sure the searched value is
never part of it.
Then each serves the course's app at stage 4 with the learner's function as its part (``GET /titles``,
``POST /shelf``, ``PATCH /shelf``) and calls that endpoint over real HTTP.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from ..checks import expect, exercise, same

__all__ = ["check_search_titles", "check_add_to_shelf", "check_move_between_lists", "AWKWARD_TITLES"]

# Titles chosen to trip up a search that is not a parameterized, escaped LIKE.
AWKWARD_TITLES = {
    1: "Pride and Prejudice",
    2: "The PRIDE of Lions",
    3: "100% Proof",
    4: "Snake_Case Notes",
    5: "It's a Trap",
    6: "C:\\Books\\Index",
    7: "The Idiot",
    8: "Percentages",
    9: "Snakes and Cases",
}

SEARCHES = [  # (text, ids expected)
    ("pride", [1, 2]),
    ("PRIDE AND", [1]),
    ("the", [2, 7]),
    ("%", [3]),
    ("0% p", [3]),
    ("_", [4]),
    ("e_c", [4]),
    ("'", [5]),
    ("it's a", [5]),
    ("\\", [6]),
    ("\\books", [6]),
    ("no such title", []),
]

INJECTIONS = [
    "' OR '1'='1",
    "%' OR 1=1 --",
    "x'; DROP TABLE books; --",
    "') OR 1=1 --",
    '" OR ""="',
]


def _book(book_id: int, title: str) -> Any:
    from bookshelf.models import Book

    return Book(id=book_id, title=title, author="Test Author", year=1900, language="en", subjects=["test"])


async def _fresh_db(books: list[Any]) -> Any:
    from bookshelf.db import connect, seed_books

    db = await connect(":memory:")
    try:
        await seed_books(db, books)
    except BaseException:
        await db.close()
        raise
    return db


async def _scalar(db: Any, sql: str, params: tuple = ()) -> Any:
    async with db.conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def _books_intact(db: Any, expected: int) -> bool:
    exists = await _scalar(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'books'")
    return bool(exists) and await _scalar(db, "SELECT count(*) FROM books") == expected


@asynccontextmanager
async def _served(check: str, **parts: Callable[..., Any]) -> AsyncIterator[tuple[Any, Any]]:
    """The course's app at stage 4 with ``parts`` in it, served in this kernel: ``(app, client)``."""
    import httpx
    from bookshelf import Settings, create_app

    from ..serving import serve

    app = create_app(Settings.ephemeral(), stage=4, parts=parts)
    server = serve(app, name=f"check-{check}")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            yield app, client
    finally:
        await server.astop()


def _said(response: Any) -> str:
    text = response.text
    return f"{response.status_code} {text if len(text) <= 160 else text[:157] + '...'}"


# -- 04.search_titles ------------------------------------------------------------------------

def _pairs(found: Any, text: str) -> list[tuple[Any, Any]]:
    expect(isinstance(found, list), f"search_titles(db, {text!r}) should return a list, got {type(found).__name__}")
    pairs = []
    for item in found:
        try:
            pairs.append((item["id"], item["title"]))
        except (TypeError, KeyError, IndexError):
            expect(False, f"search_titles(db, {text!r}) returned {item!r} in its list; each item should be a "
                          "dict like {'id': 1, 'title': 'Pride and Prejudice'}")
    return pairs


class _RecordingConnection:
    """An aiosqlite connection that notes the SQL text of every statement sent through it.

    The text is noted as the caller passed it, before SQLite binds the ``?`` parameters. (sqlite3's trace
    callback would not do: it reports the statement with the bound values already written into it.)
    """

    def __init__(self, conn: Any, sent: list[str]) -> None:
        self._conn, self._sent = conn, sent

    def _noting(self, name: str) -> Callable[..., Any]:
        method = getattr(self._conn, name)

        def call(sql: str, *args: Any, **kwargs: Any) -> Any:
            self._sent.append(str(sql))
            return method(sql, *args, **kwargs)

        return call

    def __getattr__(self, name: str) -> Any:
        if name in ("execute", "execute_fetchall", "execute_insert", "executemany", "executescript"):
            return self._noting(name)
        return getattr(self._conn, name)


def _value_in_sql(text: str, sent: list[str]) -> str | None:
    """The first statement whose SQL text contains ``text`` (as typed, or with its quotes doubled), or None."""
    forms = {text.lower(), text.replace("'", "''").lower()}
    for sql in sent:
        if any(form in sql.lower() for form in forms):
            return sql
    return None


async def _check_values_are_parameters(search_titles: Callable[..., Awaitable[Any]], db: Any) -> None:
    """Search for texts no SQL would contain; fail if one of them reached the SQL text itself."""
    from bookshelf.db import Database

    for text in ("quokka", "quokka's"):
        sent: list[str] = []
        recorded = Database(_RecordingConnection(db.conn, sent))
        await search_titles(recorded, text)
        sql = _value_in_sql(text, sent)
        expect(sql is None,
               f"search_titles(db, {text!r}) wrote the searched text into the SQL itself: it sent "
               f"{_describe_sql(sql)}. That is how SQL injection happens, even with quotes doubled or escaped "
               f"by hand. Send fixed SQL text with a ? where the value goes, and the value separately: "
               f"db.conn.execute(sql, (pattern,))")


def _describe_sql(sql: str | None) -> str:
    text = " ".join((sql or "").split())
    return repr(text if len(text) <= 120 else text[:117] + "...")


@exercise("04.search_titles", target="search_titles", points=2, timeout=30)
async def check_search_titles(search_titles: Callable[[Any, str], Awaitable[list[dict]]]) -> None:
    """Values only as parameters; case-insensitive substring search; %, _, quotes, backslashes match themselves."""
    db = await _fresh_db([_book(i, t) for i, t in AWKWARD_TITLES.items()])
    try:
        await _check_values_are_parameters(search_titles, db)
        for text, ids in SEARCHES:
            pairs = _pairs(await search_titles(db, text), text)
            expected = [(i, AWKWARD_TITLES[i]) for i in ids]
            if sorted(pairs) == expected and pairs != expected:
                expect(False, f"search_titles(db, {text!r}) found the right books but not in id order: "
                              "add ORDER BY id")
            hint = ""
            if text in ("%", "0% p", "_", "e_c", "\\", "\\books"):
                hint = (" (in LIKE, % and _ are wildcards: escape them, and the escape character itself, "
                        "and say which one with ESCAPE)")
            expect(same(pairs, expected), f"search_titles(db, {text!r}) returned {pairs}; expected {expected}{hint}")
        for attack in INJECTIONS:
            pairs = _pairs(await search_titles(db, attack), attack)
            expect(same(pairs, []), f"search_titles(db, {attack!r}) returned {len(pairs)} book(s); no title contains "
                                "that text, so it must return []: pass the text as a ? parameter, never inside "
                                "the SQL string")
            expect(await _books_intact(db, len(AWKWARD_TITLES)),
                   f"after search_titles(db, {attack!r}) the books table is changed or gone")
    finally:
        await db.close()
    await _check_search_titles_in_the_app(search_titles)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


async def _check_search_titles_in_the_app(search_titles: Callable[..., Awaitable[Any]]) -> None:
    """The same function serving GET /titles in the course's app (the real catalogue), called over HTTP."""
    from bookshelf.catalogue import load_books
    from bookshelf.settings import DATA_FILE

    books = load_books(DATA_FILE)
    async with _served("04.search_titles", search_titles=search_titles) as (_, client):
        for text in ("pride", "THE W", "'s"):
            r = await client.get("/titles", params={"contains": text})
            wanted = [{"id": b.id, "title": b.title} for b in sorted(books, key=lambda b: b.id)
                      if text.translate(_ASCII_LOWER) in b.title.translate(_ASCII_LOWER)]
            expect(r.status_code == 200 and r.json() == wanted,
                   f"served in the app, GET /titles?contains={text} answered {_said(r)}; expected 200 with the "
                   f"{len(wanted)} book(s) whose title contains {text!r} in any case")
        r = await client.get("/titles", params={"contains": INJECTIONS[0]})
        expect(r.status_code == 200 and r.json() == [],
               f"served in the app, GET /titles?contains={INJECTIONS[0]} answered {_said(r)}; expected 200 with []")


# -- 04.add_to_shelf -------------------------------------------------------------------------

def _entry_dict(entry: Any, call: str) -> dict[str, Any]:
    if hasattr(entry, "model_dump"):
        return entry.model_dump(mode="json")
    expect(isinstance(entry, dict), f"{call} returned {type(entry).__name__}; return the new entry "
                                    "(`await read_entry(conn, book_id)`)")
    return dict(entry)


@exercise("04.add_to_shelf", target="add_to_shelf", points=3, timeout=40)
async def check_add_to_shelf(add_to_shelf: Callable[..., Awaitable[Any]]) -> None:
    """Adds, refuses duplicates (DuplicateEntry) and unknown books (UnknownBook), waits for the write lock."""
    from bookshelf.db import DuplicateEntry, UnknownBook
    from bookshelf.models import Status

    db = await _fresh_db([_book(i, f"Book {i}") for i in range(1, 301)])
    try:
        entry = _entry_dict(await add_to_shelf(db, 7, Status.reading, "a note"), "add_to_shelf(db, 7, ...)")
        expect(entry.get("book_id") == 7 and entry.get("title") == "Book 7" and entry.get("status") == "reading"
               and entry.get("note") == "a note" and entry.get("added_at"),
               f"add_to_shelf(db, 7, Status.reading, 'a note') returned {entry}; expected the entry of book 7 "
               "(title 'Book 7', status 'reading', note 'a note', an added_at time)")
        row = await _scalar(db, "SELECT status || '|' || note FROM shelf WHERE book_id = 7")
        expect(row == "reading|a note", f"the shelf row of book 7 holds {row!r}; expected status 'reading' and "
                                        "note 'a note'")
        default = _entry_dict(await add_to_shelf(db, 9), "add_to_shelf(db, 9)")
        expect(default.get("status") == "want_to_read" and default.get("note") == "",
               f"add_to_shelf(db, 9) returned {default}; the defaults are status want_to_read and note ''")

        try:
            await add_to_shelf(db, 7, Status.read, "again")
        except DuplicateEntry:
            pass
        except Exception as exc:  # noqa: BLE001 - reported to the learner
            expect(False, f"adding book 7 twice raised {type(exc).__name__}: {exc}; raise DuplicateEntry(book_id) "
                          "(catch sqlite3.IntegrityError around the INSERT)")
        else:
            expect(False, "adding book 7 twice did not raise; raise DuplicateEntry(book_id)")
        row = await _scalar(db, "SELECT status || '|' || note FROM shelf WHERE book_id = 7")
        expect(row == "reading|a note", f"after the refused duplicate, book 7's row holds {row!r}: it must stay as it was")

        try:
            await add_to_shelf(db, 999_999)
        except UnknownBook:
            pass
        except Exception as exc:  # noqa: BLE001
            expect(False, f"adding unknown book 999999 raised {type(exc).__name__}: {exc}; raise "
                          "UnknownBook(book_id) when `SELECT 1 FROM books WHERE id = ?` finds nothing")
        else:
            expect(False, "adding unknown book 999999 did not raise; raise UnknownBook(book_id)")
        expect(await _scalar(db, "SELECT count(*) FROM shelf") == 2, "a refused add left a row behind")

        # While another transaction holds the connection, the learner's write must wait for it: if it
        # runs inside that transaction instead, the rollback below takes its row away.
        task: asyncio.Task[Any] | None = None
        try:
            async with db.transaction() as conn:
                await conn.execute("UPDATE shelf SET note = 'held' WHERE book_id = 9")
                task = asyncio.ensure_future(add_to_shelf(db, 8))
                for _ in range(30):
                    if task.done():
                        break
                    await asyncio.sleep(0.01)
                raise _Rollback()
        except _Rollback:
            pass
        expect(task is not None, "internal error: the lock test did not start")
        try:
            await asyncio.wait_for(task, 10)
        except Exception as exc:  # noqa: BLE001
            expect(False, f"add_to_shelf(db, 8), started while another transaction held the connection, raised "
                          f"{type(exc).__name__}: {exc}; wait for it with `async with db.transaction() as conn:`")
        kept = await _scalar(db, "SELECT count(*) FROM shelf WHERE book_id = 8")
        expect(kept == 1, "add_to_shelf(db, 8) reported success, but its row vanished when another request's "
                          "transaction rolled back: it wrote inside that transaction. Do the work inside "
                          "`async with db.transaction() as conn:` so it waits its turn")
        expect(not db.conn.in_transaction, "a transaction was left open on the connection after add_to_shelf")

        ids = list(range(11, 211))
        results = await asyncio.gather(*(add_to_shelf(db, i, Status.read, f"n{i}") for i in ids),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        expect(not errors, f"{len(errors)} of 200 concurrent adds of different books failed, the first with "
                           f"{type(errors[0]).__name__ if errors else ''}: {errors[0] if errors else ''}")
        rows = await _scalar(db, "SELECT count(*) FROM shelf WHERE book_id BETWEEN 11 AND 210")
        expect(rows == 200, f"200 concurrent adds of different books left {rows} rows; expected exactly 200")

        results = await asyncio.gather(*(add_to_shelf(db, 250) for _ in range(20)), return_exceptions=True)
        added = [r for r in results if not isinstance(r, BaseException)]
        duplicates = [r for r in results if isinstance(r, DuplicateEntry)]
        others = [r for r in results if isinstance(r, BaseException) and not isinstance(r, DuplicateEntry)]
        expect(not others, f"20 concurrent adds of one book raised {type(others[0]).__name__ if others else ''}: "
                           f"{others[0] if others else ''}; only DuplicateEntry is expected")
        expect(len(added) == 1 and len(duplicates) == 19,
               f"20 concurrent adds of one book: {len(added)} succeeded and {len(duplicates)} raised DuplicateEntry; "
               "expected exactly 1 and 19")
        expect(await _scalar(db, "SELECT count(*) FROM shelf") == 204, "the shelf does not hold the rows expected")
    finally:
        await db.close()
    await _check_add_to_shelf_in_the_app(add_to_shelf)


async def _check_add_to_shelf_in_the_app(add_to_shelf: Callable[..., Awaitable[Any]]) -> None:
    """The same function behind POST /shelf in the course's app, called over real HTTP."""
    async with _served("04.add_to_shelf", add_to_shelf=add_to_shelf) as (_, client):
        r = await client.post("/shelf", json={"book_id": 7, "status": "reading", "note": "first"})
        expect(r.status_code == 201 and r.json().get("book_id") == 7 and r.json().get("status") == "reading",
               f"served in the app, POST /shelf {{book_id: 7, status: reading}} answered {_said(r)}; expected 201 "
               "with the new entry")
        r = await client.post("/shelf", json={"book_id": 7, "note": "second"})
        expect(r.status_code == 409, f"served in the app, POST /shelf for book 7 a second time answered {_said(r)}; "
                                     "expected 409 (raise DuplicateEntry)")
        r = await client.post("/shelf", json={"book_id": 999_999})
        expect(r.status_code == 404, f"served in the app, POST /shelf for unknown book 999999 answered {_said(r)}; "
                                     "expected 404 (raise UnknownBook)")
        r = await client.get("/shelf")
        expect(r.status_code == 200 and [(e["book_id"], e["note"]) for e in r.json()] == [(7, "first")],
               f"served in the app, after those three POSTs GET /shelf answered {_said(r)}; expected book 7 alone, "
               "with its first note")


class _Rollback(Exception):
    """Raised inside a transaction by the check to force a rollback."""


# -- 04.move_between_lists -------------------------------------------------------------------

async def _shelf_rows(db: Any) -> list[tuple]:
    async with db.conn.execute("SELECT book_id, status, note, added_at FROM shelf ORDER BY book_id") as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


@exercise("04.move_between_lists", target="move_between_lists", points=3, timeout=30)
async def check_move_between_lists(move_between_lists: Callable[..., Awaitable[Any]]) -> None:
    """All changes in one transaction: any failure in a later change leaves the shelf exactly as it was."""
    from bookshelf.db import NotOnShelf
    from bookshelf.models import Status

    db = await _fresh_db([_book(i, f"Book {i}") for i in range(1, 11)])
    try:
        # the shelf's starting rows, written directly (this check must not lean on exercise 4.2's answer)
        await db.conn.executemany(
            "INSERT INTO shelf (book_id, status, note, added_at) VALUES (?, 'want_to_read', ?, ?)",
            [(book_id, f"note {book_id}", f"2024-01-0{book_id}T00:00:00.000+00:00") for book_id in (1, 2, 3)])
        await db.conn.commit()

        moved = await move_between_lists(db, {1: "read", 2: Status.reading})
        expect(isinstance(moved, list) and len(moved) == 2,
               f"move_between_lists(db, {{1: 'read', 2: Status.reading}}) returned {moved!r}; expected a list of "
               "the 2 updated entries")
        got = [_entry_dict(e, "move_between_lists") for e in moved]
        expect([(e.get("book_id"), e.get("status")) for e in got] == [(1, "read"), (2, "reading")],
               f"move_between_lists returned {[(e.get('book_id'), e.get('status')) for e in got]}; expected "
               "[(1, 'read'), (2, 'reading')], in the order of `moves`")
        rows = {r[0]: r[1] for r in await _shelf_rows(db)}
        expect(rows == {1: "read", 2: "reading", 3: "want_to_read"},
               f"after moving 1 to read and 2 to reading the shelf holds {rows}")

        async def forced(moves: dict[int, Any], what: str, must_raise: type[BaseException] = Exception) -> None:
            before = await _shelf_rows(db)
            try:
                await move_between_lists(db, moves)
            except must_raise:
                pass
            except Exception as exc:  # noqa: BLE001
                expect(False, f"move_between_lists(db, {moves!r}) ({what}) raised {type(exc).__name__}: {exc}; "
                              f"expected {must_raise.__name__}")
            else:
                expect(False, f"move_between_lists(db, {moves!r}) ({what}) did not raise")
            after = await _shelf_rows(db)
            changed = [b[0] for b, a in zip(before, after) if b != a]
            expect(after == before, f"move_between_lists(db, {moves!r}) failed ({what}) but left book(s) "
                                    f"{changed or 'rows'} changed: put all changes in one "
                                    "`async with db.transaction()` block so a failure rolls back every one")
            expect(not db.conn.in_transaction,
                   f"after the failure ({what}) the connection is still inside a transaction: let the error leave "
                   "the `async with db.transaction()` block so it rolls back")
            try:
                async with asyncio.timeout(2):
                    async with db.transaction():
                        pass
            except TimeoutError:
                expect(False, f"after the failure ({what}) nobody else can start a transaction: the write lock "
                              "was not released")

        await forced({3: "read", 7: "reading"}, "book 7 is not on the shelf", NotOnShelf)
        await forced({3: "reading", 1: "finished"}, "'finished' is not a status")
        await db.conn.execute(
            "CREATE TRIGGER refuse_book_2 BEFORE UPDATE ON shelf WHEN NEW.book_id = 2 "
            "BEGIN SELECT RAISE(ABORT, 'refused by the check''s trigger'); END")
        await forced({3: "read", 2: "read"}, "the database refused the second update")
        await db.conn.execute("DROP TRIGGER refuse_book_2")

        moved = await move_between_lists(db, {3: "reading"})
        rows = {r[0]: r[1] for r in await _shelf_rows(db)}
        expect(rows == {1: "read", 2: "reading", 3: "reading"},
               f"after the failures, a valid move of book 3 should still work; the shelf holds {rows}")
    finally:
        await db.close()
    await _check_move_between_lists_in_the_app(move_between_lists)


async def _check_move_between_lists_in_the_app(move_between_lists: Callable[..., Awaitable[Any]]) -> None:
    """The same function behind PATCH /shelf in the course's app, called over real HTTP."""
    from ..standins import add_as_want_to_read   # puts books on the shelf; this check must not lean on exercise 4.2

    async with _served("04.move_between_lists", move_between_lists=move_between_lists,
                       add_to_shelf=add_as_want_to_read) as (_, client):
        for book_id in (12, 7):
            r = await client.post("/shelf", json={"book_id": book_id})
            expect(r.status_code == 201, f"internal error: POST /shelf for book {book_id} answered {_said(r)}")
        r = await client.patch("/shelf", json={"moves": [{"book_id": 12, "status": "read"},
                                                         {"book_id": 7, "status": "reading"}]})
        got = [(e.get("book_id"), e.get("status")) for e in r.json()] if r.status_code == 200 else None
        expect(got == [(12, "read"), (7, "reading")],
               f"served in the app, PATCH /shelf moving 12 to read and 7 to reading answered {_said(r)}; expected "
               "200 with both entries, moved, in that order")
        r = await client.patch("/shelf", json={"moves": [{"book_id": 12, "status": "reading"},
                                                         {"book_id": 8, "status": "read"}]})
        expect(r.status_code == 404, f"served in the app, PATCH /shelf with book 8 (not on the shelf) answered "
                                     f"{_said(r)}; expected 404 (raise NotOnShelf)")
        r = await client.get("/shelf/12")
        expect(r.status_code == 200 and r.json().get("status") == "read",
               f"served in the app, after the refused PATCH /shelf, GET /shelf/12 answered {_said(r)}: book 12 "
               "must still be 'read', since the batch failed as a whole")
