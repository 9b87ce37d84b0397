"""Lesson 01's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="01.blocking_gather",
        prompt="Three coroutines each call `time.sleep(0.1)` (not `asyncio.sleep`), and a cell runs them with "
               "`asyncio.gather`. How long does the cell take?",
        options=(
            Option("about 0.1 s: gather runs them at the same time",
                   why="gather can only overlap *waits that await*; `time.sleep` holds the loop's one thread, so "
                       "the loop cannot switch to the next coroutine until it returns."),
            Option("about 0.3 s: one after another", correct=True),
            Option("it raises an error: blocking calls are not allowed in async code",
                   why="asyncio does not detect blocking calls; it just stalls until they return."),
        ),
        explain="`async def` alone buys nothing: only an `await` on a non-blocking wait lets the loop switch.",
    ),
    Question(
        id="01.gather_speedup",
        prompt="`N_TASKS` waits of `LATENCY` seconds each: one after another, then all at once with `gather`. "
               "On a machine with 2 cores, about how much faster is the `gather` version?",
        options=(
            Option("about 2x: one wait per core",
                   why="waiting is not CPU work. One thread can wait for many timers at once: the loop parks "
                       "each coroutine at its `await`; cores play no part."),
            Option("no faster: the event loop has only one thread",
                   why="one thread is enough to *wait* for many things at once; it only runs one piece of "
                       "Python code at a time."),
            Option("close to N_TASKS times", correct=True),
        ),
        explain="N equal waits at once take about as long as one: the ideal speedup is N.",
    ),
    Question(
        id="01.taskgroup_failure",
        prompt="Three tasks run in an `async with asyncio.TaskGroup()` block: two take 1 s, one raises "
               "`LookupError` after 0.05 s. What happens?",
        options=(
            Option("the block raises the `LookupError` after about 1 s, when the others are done",
                   why="that is closer to `gather`, which leaves the others running. A TaskGroup cancels its "
                       "other tasks as soon as one fails."),
            Option("after about 0.05 s the other two are cancelled, and the block raises an `ExceptionGroup` "
                   "holding the `LookupError`", correct=True),
            Option("the `LookupError` is printed as a warning and the block finishes normally after 1 s",
                   why="a TaskGroup never swallows an error: the block raises it, wrapped in an "
                       "`ExceptionGroup`, which `except*` unpacks."),
        ),
        explain="A TaskGroup is all-or-nothing: one failure cancels the siblings, and every error comes out "
                "in an ExceptionGroup.",
    ),
    Question(
        id="01.nest_threads",
        prompt="You run `nest_asyncio2.apply()` in a cell. Another thread of this kernel then starts a new event "
               "loop of its own (a web server does that). Is that loop patched?",
        options=(
            Option("no: apply() patches only the loop it was called on",
                   why="the patch replaces methods on the loop's *class* and swaps `asyncio.Task` for the "
                       "whole module: every loop of that class, in any thread, is affected."),
            Option("yes: the patch is process-wide", correct=True),
            Option("only if that thread imports nest_asyncio2 too",
                   why="modules are shared by every thread of a process; the patch changed `asyncio` itself."),
        ),
        explain="The patch changes the asyncio module and the loop class, which every thread shares.",
    ),
]
