"""What lessons 04-06 teach holds on the pinned versions, and the lessons keep their pace and their hints.

- Lesson 04: rollback-journal mode makes a commit wait for the readers still reading and holds new readers
  back meanwhile; WAL mode does neither (the lesson's own cell, run here). No demo relies on BEGIN EXCLUSIVE.
- Lesson 06: uvicorn cancels the requests still running when its graceful-shutdown timeout ends (plain
  uvicorn, as the lesson says, not only labkit's server).
- Lessons 04 and 05 print no percentage as a whole number (a share below 1% would print as "0%").
- Every exercise of 04-06 has three hints that climb: the idea, the names, the shape of the code.
- No reading stretch over the course's bound, and each lesson's stated time is the pacing estimate.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import httpx
import nbformat
import pytest
import uvicorn
from fastapi import FastAPI

from authoring.pacing import MINUTES_PER_EXERCISE, pace

ROOT = Path(__file__).resolve().parent.parent
LESSONS = {"04": ROOT / "solutions" / "04_async_database.ipynb",
           "05": ROOT / "solutions" / "05_dont_block_the_loop.ipynb",
           "06": ROOT / "solutions" / "06_shared_state.ipynb"}


def cells(lesson: str) -> list[nbformat.NotebookNode]:
    return nbformat.read(LESSONS[lesson], as_version=4).cells


def cell(lesson: str, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in cells(lesson) if c.get("id") == cell_id)


# -- lesson 04: what rollback mode costs -------------------------------------------------------

def test_lesson_04_shows_rollback_costs_with_the_apps_begin_immediate():
    code = "\n".join(c.source for c in cells("04") if c.cell_type == "code")
    assert "BEGIN EXCLUSIVE" not in code
    namespace = {"Path": Path, "tempfile": tempfile, "shutil": shutil, "sqlite3": sqlite3,
                 "threading": threading, "time": time, "print": lambda *a, **k: None}
    exec(cell("04", "087b4def").source, namespace)              # try_sql, fresh_file and the first demo
    for attempt in range(3):                                     # reader 2 can be late on a very busy machine
        exec(cell("04", "l04-rollback-costs").source, namespace)
        rollback, wal = namespace["costs"]["delete"], namespace["costs"]["wal"]
        read_for = namespace["READ_FOR"]
        assert rollback["commit"] > read_for / 2, rollback      # the commit waited for reader 1
        assert wal["commit"] < read_for / 4 and wal["reader 2"] < read_for / 4, wal
        if rollback["reader 2"] > read_for / 4:                  # reader 2 waited for the commit
            break
    else:
        pytest.fail(f"in rollback mode reader 2 never waited for the commit: {rollback}")


# -- lesson 06: uvicorn cancels what is still running --------------------------------------------

def test_uvicorn_cancels_running_requests_when_its_graceful_timeout_ends():
    seen: dict[str, object] = {}
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError as exc:
            seen["message"] = exc.args[0] if exc.args else ""
            raise
        return {"finished": "yes"}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, timeout_graceful_shutdown=1, log_level="critical",
                                           loop="asyncio", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        outcome: dict[str, object] = {}

        def call() -> None:
            try:
                outcome["status"] = httpx.get(f"http://127.0.0.1:{port}/slow", timeout=20).status_code
            except httpx.HTTPError as exc:
                outcome["error"] = type(exc).__name__

        client = threading.Thread(target=call, daemon=True)
        client.start()
        time.sleep(0.3)                       # the request is running
        started = time.perf_counter()
        server.should_exit = True
        thread.join(15)
        stopped = time.perf_counter() - started
        client.join(5)
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
    assert seen.get("message") == "Task cancelled, timeout graceful shutdown exceeded", seen
    assert 0.9 < stopped < 10, stopped        # it waited for the timeout, then cancelled; it did not wait 30 s
    # uvicorn answers 500 for a request whose app raised (CancelledError too) before its response started
    assert outcome.get("status") == 500 or "error" in outcome, outcome


def test_lesson_06_says_and_shows_that_uvicorn_cancels_at_the_end_of_the_graceful_timeout():
    text = " ".join(c.source for c in cells("06"))
    assert "uvicorn **cancels** the requests still running" in text
    assert 'labkit.ask("06.graceful_cancel")' in text and "await slow_server.astop()" in text


# -- lessons 04 and 05: numbers as printed ----------------------------------------------------

@pytest.mark.parametrize("lesson", ["04", "05"])
def test_no_percentage_prints_as_a_whole_number(lesson):
    code = "\n".join(c.source for c in cells(lesson) if c.cell_type == "code")
    assert not re.search(r":\.0%\}", code), "use labkit.timing.percent: a share below 1% must not print as 0%"


def test_the_stage_4_table_is_cut_to_100_columns():
    source = cell("04", "86eef39f").source
    assert "WIDTH = 100" in source and "room = WIDTH - len(line)" in source


def test_lesson_05_measures_when_offloading_pays():
    text = "\n".join(c.source for c in cells("05"))
    assert 'labkit.ask("05.trip_cost")' in text
    assert "asyncio.to_thread(int)" in text and "loop.run_in_executor(pool, os.getpid)" in text
    assert "loop.run_in_executor(pool, similar_books, books, book, 5)" in text


def test_exercise_5_2_keeps_one_pool_and_shuts_it_down_off_the_loop():
    solution = next(c.source for c in cells("05") if "exercise:05.cpu_pool" in c.metadata.get("tags", []))
    assert "await asyncio.to_thread(self._pool.shutdown)" in solution
    assert "with concurrent.futures.ProcessPoolExecutor" not in solution


# -- hints and pacing ---------------------------------------------------------------------------

HINTS = re.compile(r"<summary>Hint (\d)")


@pytest.mark.parametrize("lesson", sorted(LESSONS))
def test_every_exercise_has_three_hints_that_climb(lesson):
    nb = cells(lesson)
    exercises = [i for i, c in enumerate(nb) if any(t.startswith("exercise:") for t in c.metadata.get("tags", []))]
    assert len(exercises) == 3
    for index in exercises:
        text = next(c.source for c in reversed(nb[:index]) if c.cell_type == "markdown" and "<details>" in c.source)
        assert HINTS.findall(text) == ["1", "2", "3"], (lesson, nb[index].metadata["tags"])
        assert "```python" in text.split("Hint 3", 1)[1], "Hint 3 shows the shape of the code"


@pytest.mark.parametrize("lesson", sorted(LESSONS))
def test_pace_and_stated_time(lesson):
    paced = pace(LESSONS[lesson])
    assert not paced.too_long(), paced.too_long()
    assert paced.predicts >= 3
    title = next(c.source for c in cells(lesson) if c.source.startswith("# "))
    teaching, exercises = map(int, re.search(r"\*\*Time\*\* \| (\d+) min teaching, (\d+) min exercises", title).groups())
    assert teaching + exercises == paced.estimate
    assert abs(exercises - MINUTES_PER_EXERCISE * paced.exercises) <= 5
