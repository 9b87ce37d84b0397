"""Lesson 09's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="09.littles_law",
        prompt="`C` workers load `/async`, which awaits `DELAY` seconds per request. Each worker sends its next "
               "request as soon as the previous one answers. About how many requests per second come back?",
        options=(
            Option("about 1 / DELAY", why="That is one worker's rate. The workers wait at the same time, so their "
                                          "rates add up: `C` requests are in flight at every moment."),
            Option("a little under C / DELAY", correct=True),
            Option("far more than C / DELAY: async has no limit",
                   why="Each worker has one request in flight and waits for it; with `C` workers at most `C` "
                       "requests are in flight, and each takes at least `DELAY`."),
        ),
        explain="Little's law: requests in flight = throughput x latency, so throughput = C / latency.",
    ),
    Question(
        id="09.sync_vs_async",
        prompt="With fewer workers than the thread pool's 40 threads, how does the `def` endpoint (`time.sleep` in "
               "a worker thread) compare with the `async def` one (`await asyncio.sleep`) in requests per second?",
        options=(
            Option("the def endpoint is far slower: threads are expensive",
                   why="Each call pays a small hand-off to a thread, but below the pool's size every request gets "
                       "its own thread and they all sleep at the same time."),
            Option("about the same", correct=True),
            Option("the def endpoint is faster: threads run in parallel",
                   why="Both endpoints spend their time waiting `DELAY`; running the wait in a thread does not "
                       "make it shorter."),
        ),
        explain="Below the pool's size, a thread pool is not the limit; its cost is capacity.",
    ),
    Question(
        id="09.blocking",
        prompt="`/blocking` is an `async def` that calls `time.sleep(DELAY)`. With `C` workers, what do you expect?",
        options=(
            Option("about C / DELAY requests/s, like `/async`",
                   why="`time.sleep` never gives control back to the event loop: while one request sleeps, no "
                       "other request can even start."),
            Option("about 1 / DELAY requests/s, and a latency of about C x DELAY", correct=True),
            Option("about 1 / DELAY requests/s, with each request still answering in about DELAY",
                   why="The other requests are already sent; they wait in line for the loop, each behind the ones "
                       "in front of it, so the latency grows to about `C` x `DELAY`."),
        ),
        explain="One blocking call serialises the whole server.",
    ),
    Question(
        id="09.pool_size",
        prompt="The `def` endpoint again, with the thread pool shrunk to `T` threads, fewer than the `C` workers. "
               "About how many requests per second?",
        options=(
            Option("still about C / DELAY", why="Only `T` calls can hold a thread at once; the others queue for "
                                                "a free thread, so only `T` sleep at the same time."),
            Option("about T / DELAY", correct=True),
            Option("about 1 / DELAY: the GIL lets one thread run at a time",
                   why="`time.sleep` releases the GIL, as blocking I/O does: sleeping threads do wait in "
                       "parallel."),
        ),
        explain="A `def` endpoint that waits caps the server at threads / wait.",
    ),
    Question(
        id="09.capstone_calls",
        prompt="Your `/recommendations` (limit 4) has answered once: the ten candidates' ratings are fetched. Now "
               "`C` workers load it for a while. How many more calls reach the ratings service?",
        options=(
            Option("about ten per request", why="The ratings already fetched are in the cache: a request asks the "
                                                "service only for ratings it does not have yet."),
            Option("none", correct=True),
            Option("ten, once more, since the requests arrive together",
                   why="That is the stampede single flight prevents, and here the ratings are cached already: no "
                       "request misses the cache at all."),
        ),
        explain="A safe cache turns repeated work into none (the stand-in, which caches nothing, calls every time).",
    ),
]
