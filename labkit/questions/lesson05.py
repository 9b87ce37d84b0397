"""Lesson 05's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="05.blocking_batch",
        prompt="Six requests to `/sleep/async-blocking` (`time.sleep(0.1)` inside `async def`) arrive together, "
               "with a few `/ping` requests just after them. What happens?",
        options=(
            Option("the six answer after about 0.1 s, the pings at once",
                   why="`async def` does not make blocking code concurrent: the loop switches tasks only at an "
                       "`await`, and `time.sleep` never awaits, so the six sleeps run one after another."),
            Option("the six take about 0.6 s, one after another, and the pings wait behind them", correct=True),
            Option("the six take about 0.6 s, but the pings answer at once: `/ping` does nothing",
                   why="one event loop runs every `async def` endpoint of the server; while a sleep holds it, "
                       "no other request can even start, however little it has to do."),
        ),
        explain="A blocking call holds the whole loop: every request behind it waits, related or not.",
    ),
    Question(
        id="05.thread_tokens",
        prompt="100 requests arrive at once at a `def` endpoint that sleeps 0.1 s. The server's thread limiter "
               "has 40 tokens. About how long until all 100 are answered?",
        options=(
            Option("about 0.1 s: each `def` call gets its own thread",
                   why="threads come from a limited pool: each call borrows one of the limiter's 40 tokens, "
                       "and a call that finds none free waits for one."),
            Option("three waves of 0.1 s (40, 40, then 20): about 0.3 s, or a little more", correct=True),
            Option("about 10 s: `def` endpoints run one at a time",
                   why="`def` endpoints run in worker threads, as many at once as there are tokens; only "
                       "blocking code *inside `async def`* runs one at a time."),
        ),
        explain="The limiter lets 40 run at once; the rest queue for a token, which draws a staircase.",
    ),
    Question(
        id="05.gil_threads",
        prompt="The CPU-heavy job, split into 8 slices, runs one slice after another, then in a pool of 2 threads, "
               "then in a pool of 2 processes. Compared with one after another (on 2 free cores):",
        options=(
            Option("2 threads are about 2x faster, and so are 2 processes",
                   why="pure-Python code holds the GIL: only one thread of a process runs Python bytecode at a "
                       "time, so two threads take turns instead of working in parallel."),
            Option("2 threads are about as fast; 2 processes up to about 2x faster", correct=True),
            Option("neither is faster: CPU work cannot be split",
                   why="the slices are independent; each process has its own interpreter and its own GIL, so "
                       "two processes really run on two cores at once."),
        ),
        explain="Threads help waiting, not computing (in pure Python); processes compute in parallel.",
    ),
    Question(
        id="05.similar_offload",
        prompt="The app ranks books for `/similar` on a huge catalogue while another client pings it. With your "
               "`offload` (a worker thread) instead of the stand-in (the loop's own thread), the slowest ping:",
        options=(
            Option("waits as long as before: the ranking still holds the GIL",
                   why="a thread running Python hands the GIL over every few milliseconds (the switch "
                       "interval), so the loop's thread gets turns while the ranking goes on."),
            Option("waits less, though not zero: the loop gets the GIL back every few milliseconds",
                   correct=True),
            Option("does not wait at all: the worker thread runs in parallel with the loop",
                   why="pure Python in a worker thread shares one GIL with the loop's thread: they take turns, "
                       "so a ping can still wait a few milliseconds for its turn."),
        ),
        explain="A thread keeps the loop responsive during CPU work; it does not make the work faster.",
    ),
    Question(
        id="05.trip_cost",
        prompt="One ranking over the real catalogue takes about a millisecond. What does a trip to a worker cost "
               "in comparison (the call queued, run elsewhere, its result back)?",
        options=(
            Option("nothing worth counting, for a thread and a process alike",
                   why="a trip means a queue, a wake-up of another thread, and for a process pickling the "
                       "arguments and the result and copying them through a pipe: real time."),
            Option("a thread trip is a fraction of the ranking; a process trip that ships the catalogue costs "
                   "more than the ranking itself", correct=True),
            Option("a process trip is cheaper than a thread trip, since processes avoid the GIL",
                   why="escaping the GIL helps the work that runs in the process, not the trip there: the "
                       "arguments are pickled, copied and unpickled on every call."),
        ),
        explain="Offloading pays only when the work is several times the trip, and long enough to delay others.",
    ),
]
