"""Several processes on one SQLite file: ``uvicorn --workers 3``, bursts of concurrent writes, no 500s.

A read statement still open on a process's shared connection made its next ``BEGIN IMMEDIATE`` fail at
once with SQLITE_BUSY_SNAPSHOT (517) whenever another process had written since: a 500 "database is
locked" well under the busy timeout. ``Database.transaction()`` now waits for that read to finish.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bookshelf.catalogue import load_books
from bookshelf.db import connect, seed_books
from bookshelf.settings import DATA_FILE

ROOT = Path(__file__).resolve().parents[2]
BOOKS = 150


@pytest.mark.anyio
async def test_begin_waits_for_our_own_open_read_instead_of_failing_with_517(tmp_path):
    path = tmp_path / "snapshot.db"
    db, other = await connect(path), await connect(path)  # two processes' connections, as far as SQLite knows
    try:
        await seed_books(db, load_books(DATA_FILE)[:20])
        async with db.conn.execute("SELECT id FROM books") as reading:  # a read left open on db's connection
            await reading.fetchone()
            await other.conn.execute("INSERT INTO shelf VALUES (1, 'read', '', 'x')")  # another process writes
            write = asyncio.create_task(seed_books(db, load_books(DATA_FILE)[:1]))
            await asyncio.sleep(0.05)
            assert not write.done(), write  # before the fix: OperationalError, extended code 517
        assert await asyncio.wait_for(write, 5) == 1
    finally:
        await db.close()
        await other.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def three_workers(tmp_path):
    """``uvicorn bookshelf.main:app --workers 3`` on a fresh file; always stopped, its port freed."""
    port = free_port()
    db = tmp_path / "workers.db"
    env = {**os.environ, "BOOKSHELF_DB": str(db), "BOOKSHELF_SIMULATE": "inprocess", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bookshelf.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "3", "--no-access-log"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(url + "/shelf", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn --workers 3 did not answer within 60 s"
            time.sleep(0.2)
        time.sleep(1.0)  # every worker has started (each one seeds the catalogue)
        yield url, db
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        with socket.socket() as s:  # the port is free again
            s.bind(("127.0.0.1", port))


@pytest.mark.anyio
async def test_three_workers_on_one_file_lose_nothing_and_never_answer_500(three_workers):
    url, db = three_workers
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=0)  # new connections: spread over workers
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def burst(method: str, ids: range) -> list[int]:
            async def one(book_id: int) -> int:
                if method == "POST":
                    response = await client.post("/shelf", json={"book_id": book_id})
                else:
                    response = await client.delete(f"/shelf/{book_id}")
                # reads between the writes keep statements open on each worker's connection
                await client.get("/books", params={"author": "a", "limit": 50})
                return response.status_code
            return list(await asyncio.gather(*(one(i) for i in ids)))

        added = await burst("POST", range(1, BOOKS + 1))
        removed = await burst("DELETE", range(1, BOOKS + 1, 2))
        shelf = (await client.get("/shelf")).json()
    assert sorted(set(added)) == [201], {c: added.count(c) for c in set(added)}
    assert sorted(set(removed)) == [204], {c: removed.count(c) for c in set(removed)}
    assert sorted(e["book_id"] for e in shelf) == list(range(2, BOOKS + 1, 2))
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM shelf").fetchone()[0] == BOOKS // 2
