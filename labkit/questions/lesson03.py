"""Lesson 03's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="03.pool_limit",
        prompt="6 requests go out at once to a service that takes 0.1 s each, through a client with "
               "`httpx.Limits(max_connections=2)`. What happens?",
        options=(
            Option("all 6 are served together, in about 0.1 s",
                   why="the pool limit is a hard cap: a request beyond the 2nd waits inside the client for a "
                       "free connection."),
            Option("they go in waves of 2: at least 0.3 s", correct=True),
            Option("4 of them fail with an error at once",
                   why="extra requests are not refused: they queue for a connection, and fail only if that wait "
                       "exceeds the pool timeout."),
            Option("one at a time: at least 0.6 s",
                   why="the 2 connections work side by side; only the waves follow one another."),
        ),
        explain="The client opens at most 2 connections; the others wait their turn inside the client.",
    ),
    Question(
        id="03.fanout_time",
        prompt="The three services take 0.10, 0.20 and 0.15 s (the setup's `LATENCY`). About how long does "
               "`GET /books/1/details` take with a `fetch_details` that gathers the three calls?",
        options=(
            Option("about 0.45 s, the sum",
                   why="the sum is what awaiting one after another costs; with `gather` the three requests are "
                       "in flight together and their waits overlap."),
            Option("a little over 0.20 s, the slowest", correct=True),
            Option("about 0.15 s, the average",
                   why="`gather` waits for every answer, so the slowest one sets the time; the average plays "
                       "no part."),
            Option("about 0.10 s, the fastest",
                   why="that is the first answer (lesson 01's `fastest`); `gather` waits for all of them."),
        ),
        explain="Concurrent waits cost the longest one, plus the HTTP hops in between.",
    ),
    Question(
        id="03.semaphore",
        prompt="`N_CALLS` calls of 0.1 s each are gathered at once, each inside `async with semaphore:` with "
               "`asyncio.Semaphore(3)`. What does the service see?",
        options=(
            Option("all of them in flight at once: `gather` starts everything",
                   why="`gather` starts every coroutine, but each one then waits at `async with semaphore:` "
                       "until a slot is free; only 3 get past it at a time."),
            Option("at most 3 at once, in about N_CALLS / 3 waves of 0.1 s", correct=True),
            Option("one at a time: a semaphore is a lock",
                   why="a lock is a semaphore with one slot; `Semaphore(3)` has three."),
            Option("at most 3 at once, and the whole run takes about 0.3 s",
                   why="3 at a time means the calls go in waves: N_CALLS / 3 of them, each as long as a call."),
        ),
        explain="A semaphore caps how many run at once; the time grows with the number of waves.",
    ),
]
