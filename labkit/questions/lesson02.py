"""Lesson 02's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="02.workers_memory",
        prompt="`uvicorn myshelf.main:app --workers 2`. You add notes one by one and list them after each one, "
               "every request on a new connection. Does every `GET /notes` show all the notes added so far?",
        options=(
            Option("yes: both workers serve the same app object",
                   why="each worker is a separate process that imported `myshelf.main` itself: two apps, two "
                       "`Notes` stores, two memories."),
            Option("no: some lists miss notes, depending on which process answered", correct=True),
            Option("the second worker cannot start, because the port is taken",
                   why="uvicorn's main process opens the socket once and both workers accept connections from "
                       "it."),
        ),
        explain="Processes share no memory: state that must be shared goes to a database or a shared store.",
    ),
    Question(
        id="02.sequential_vs_concurrent",
        prompt="`N` requests to `/sleep`, which awaits `DELAY` s: first one after another with `httpx.Client`, "
               "then all at once with `AsyncClient` and `gather`, against the same server. About how long does "
               "the concurrent batch take?",
        options=(
            Option("about N × DELAY, like the sequential one: a server answers one request at a time",
                   why="an async server handles many requests at once while each of them awaits; the sequential "
                       "client simply never asked for more than one."),
            Option("about N × DELAY / 2: the machine has 2 cores",
                   why="waiting uses no core: one event loop waits for all `N` sleeps at once."),
            Option("about DELAY, plus some overhead", correct=True),
        ),
        explain="N overlapping waits cost about one wait; what is left is the clients' and the server's overhead.",
    ),
    Question(
        id="02.blocking_async_def",
        prompt="`N_BLOCK` requests arrive at once at an `async def` endpoint that calls `time.sleep(DELAY)`. "
               "How many of those calls are sleeping at the same moment?",
        options=(
            Option("all of them: the endpoint is `async def`, so they run concurrently",
                   why="`async def` does not make a blocking call polite: `time.sleep` holds the server's event "
                       "loop, and the next request waits until it returns."),
            Option("one at a time", correct=True),
            Option("up to 40: FastAPI's thread limit",
                   why="the 40 worker threads serve `def` endpoints; an `async def` endpoint runs on the event "
                       "loop itself."),
        ),
        explain="A blocking call in `async def` stops every request on that loop; in `def` it blocks one thread.",
    ),
    Question(
        id="02.sync_client_on_loop",
        prompt="The app now runs as a task on the kernel's own event loop (`serve_on_loop`). A cell calls it with "
               "a *sync* `httpx.Client` and a 1 s timeout. What happens?",
        options=(
            Option("it answers as fast as the async client did",
                   why="the sync call blocks the kernel's thread, and that thread's loop is the one that must run "
                       "the server."),
            Option("it answers, just a little slower",
                   why="while the sync client waits, nothing else runs on that thread: the server gets no turn "
                       "at all, not a slow one."),
            Option("no answer: it times out after 1 s", correct=True),
        ),
        explain="A blocking call in the thread that runs the server's loop is a deadlock; only the timeout ends it.",
    ),
]
