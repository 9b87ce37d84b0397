"""Lesson 10's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="10.job_ids",
        prompt="Two uvicorn workers each hand out job ids with their own `itertools.count(1)`. You send 40 "
               "`POST /jobs` at once, each on a new connection. Which ids come back?",
        options=(
            Option("1 to 40, each once", why="that would need one counter shared by both workers; each worker "
                   "process has its own memory, so each has its own counter."),
            Option("some ids come back twice", correct=True),
            Option("an error: two processes cannot serve one port", why="the workers share one listening socket: "
                   "the operating system hands each new connection to one of them."),
        ),
        explain="Each worker counts from 1 on its own; ids repeat as soon as both workers answer.",
    ),
    Question(
        id="10.asyncio_lock",
        prompt="The stock (10 copies) is in Redis. Each reservation reads the count, works 2 ms and writes count - 1, "
               "inside `async with asyncio.Lock()` of its worker. 40 reservations reach two workers at once. "
               "How many succeed?",
        options=(
            Option("exactly 10: the lock serialises the reservations", why="an `asyncio.Lock` lives in one "
                   "process: it makes the reservations of one worker wait for each other, not those of the other."),
            Option("more than 10 can succeed", correct=True),
            Option("fewer than 10: the lock blocks the other worker", why="the other worker never sees this lock at "
                   "all, so it neither waits for it nor is blocked by it."),
        ),
        explain="Both workers read the same count under their own locks and both write count - 1: copies are sold "
                "twice. A lock that all workers respect must live where all of them look, such as Redis.",
    ),
    Question(
        id="10.workers_cores",
        prompt="A machine has 2 CPU cores; the load generator runs on it too. An endpoint's time is mostly CPU "
               "(Python code) plus a short database write. Going from 2 to 4 uvicorn workers...",
        options=(
            Option("doubles the requests per second", why="a worker process is only faster when a core is free "
                   "to run it: 4 processes on 2 cores take turns."),
            Option("helps little or not at all, and may cost some latency", correct=True),
            Option("always makes it slower: more processes fight for the database", why="a server database serves "
                   "many connections at once; the limit here is the cores, not the connections."),
        ),
        explain="Workers add parallelism only up to the number of idle cores (and the shared servers' capacity).",
    ),
]
