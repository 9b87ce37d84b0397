"""Lesson 06's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="06.lost_updates",
        prompt="100 coroutines, started together with `gather`, each run `seen = counter[\"views\"]`, then "
               "`await asyncio.sleep(0)`, then `counter[\"views\"] = seen + 1`. What is the counter afterwards?",
        options=(
            Option("100: coroutines share one thread, so they cannot race",
                   why="they interleave at every `await`: each one reads, then yields, and the others read the "
                       "same old value before anyone writes."),
            Option("1", correct=True),
            Option("some number between 1 and 100 that changes from run to run",
                   why="nothing here depends on timing: where the `await` sits decides the interleaving, so "
                       "every run loses the same updates."),
        ),
        explain="All 100 read 0 before any of them wrote, so all 100 wrote 1.",
    ),
    Question(
        id="06.thread_lock",
        prompt="A task holds a `threading.Lock` across `await asyncio.sleep(0.05)`. Another task on the same loop "
               "calls `lock.acquire(timeout=0.5)`. What happens?",
        options=(
            Option("the second task gets the lock after about 0.05 s",
                   why="`acquire` blocks the thread, and with it the event loop, so the holder cannot even "
                       "resume to release the lock."),
            Option("the second task gives up after 0.5 s, and only then does the holder finish", correct=True),
            Option("the second task awaits the lock like an `asyncio.Lock`",
                   why="a `threading.Lock` knows nothing about the event loop: waiting for it blocks the "
                       "whole thread instead of suspending one task."),
        ),
        explain="Never wait for a thread lock on the loop; between coroutines use `asyncio.Lock`.",
    ),
    Question(
        id="06.graceful_cancel",
        prompt="A request is in the middle of `await asyncio.sleep(10)` when its server is asked to stop. The "
               "server's graceful-shutdown timeout is 2 s. What happens to the request?",
        options=(
            Option("the server waits the full 10 s for it",
                   why="with a graceful-shutdown timeout uvicorn waits only that long (without one it would "
                       "wait as long as it takes)."),
            Option("after about 2 s uvicorn cancels it: a `CancelledError` at its `await`, and its `finally` runs",
                   correct=True),
            Option("it is killed at once and its `finally` never runs",
                   why="uvicorn first lets running requests finish, up to the timeout; then it cancels their "
                       "tasks, which raises `CancelledError` where they wait, so their cleanup still runs."),
        ),
        explain="Every `await` of a request is a place where shutdown can cancel it.",
    ),
    Question(
        id="06.two_processes",
        prompt="`uvicorn ... --workers 2` serves the app. You post jobs, each on a new connection, and look at "
               "the job ids they get back. What do you see?",
        options=(
            Option("1, 2, 3, ...: one counter for the whole server",
                   why="each worker process imports the app and runs its own lifespan, so each has its own "
                       "`app.state`, its own job table and its own counter."),
            Option("the same ids handed out twice, for different jobs", correct=True),
            Option("an error: two processes cannot listen on one port",
                   why="the worker processes share the one listening socket; the operating system hands each "
                       "new connection to one of them."),
        ),
        explain="In-process state is per process: two processes, two job tables.",
    ),
    Question(
        id="06.lock_per_process",
        prompt="Two connections to one SQLite file, each with its own `asyncio.Lock` (two 'processes'), take "
               "turns at 100 reservations of a book with 10 copies: read the count under the lock, then write "
               "count - 1. How many reservations succeed?",
        options=(
            Option("exactly 10: the locks keep the read and the write together",
                   why="each lock guards only its own 'process': the other side reads the same count between "
                       "this side's read and its write."),
            Option("more than 10: the book is oversold", correct=True),
            Option("none: SQLite refuses two writers",
                   why="each statement commits on its own and SQLite lets them take turns; the read and the "
                       "write are separate statements, and another one fits between them."),
        ),
        explain="Across processes, let the database do the check and the write in one statement.",
    ),
]
