"""Lesson 07's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="07.global_vs_contextvar",
        prompt="N requests run at once. Each stores its id in a module-level dict and in a `ContextVar`, awaits "
               "a short sleep, then reads both back. Which one comes back wrong?",
        options=(
            Option("neither: each request runs alone until it returns",
                   why="A request runs alone only until its first `await`; while it waits, the other requests "
                       "run and write the shared dict."),
            Option("the dict, often; the ContextVar, never", correct=True),
            Option("both: a ContextVar is a module-level variable too",
                   why="The variable is declared once, but its value lives in a context, and asyncio gives every "
                       "task its own copy of the context."),
        ),
        explain="Each request runs in its own task, so each reads the ContextVar value its own task set.",
    ),
    Question(
        id="07.threads_context",
        prompt="Inside a request whose id is set in a `ContextVar`, a blocking helper runs in a worker thread "
               "three ways: `asyncio.to_thread`, Starlette's `run_in_threadpool`, and "
               "`loop.run_in_executor(None, ...)`. Which of them see the request's id?",
        options=(
            Option("all three: threads share the process's variables",
                   why="A ContextVar's value lives in a context, not in the variable, and a worker thread runs "
                       "in its own context unless the code handing it the work copies the caller's."),
            Option("`to_thread` and `run_in_threadpool`, not `run_in_executor`", correct=True),
            Option("none of them: context variables never cross into threads",
                   why="They cross when the caller's context is copied into the thread: `asyncio.to_thread` "
                       "does that, and so does anyio, under `run_in_threadpool`."),
        ),
        explain="`to_thread` and anyio run the function inside `contextvars.copy_context()`; the bare executor "
                "does not.",
    ),
    Question(
        id="07.never_retrieved",
        prompt="An endpoint starts a fire-and-forget task and answers 200. The task then raises. Nobody awaits it. "
               "What does the log show?",
        options=(
            Option("an ERROR line with the request's id, as soon as the task fails",
                   why="Nothing looks at a task's exception unless someone awaits the task or asks for it; "
                       "asyncio only complains later, when it destroys the task."),
            Option("'Task exception was never retrieved', once the task object is destroyed, without the id",
                   correct=True),
            Option("nothing: the client already got its 200",
                   why="The client sees nothing, but asyncio does report an exception nobody retrieved: when the "
                       "task object is garbage-collected."),
            Option("the client gets a 500",
                   why="The response was complete before the task failed; a task's failure reaches only whoever "
                       "awaits it."),
        ),
        explain="The report comes when the task is destroyed, maybe much later, from the garbage collector, "
                "outside any request.",
    ),
    Question(
        id="07.swallowed_cancel",
        prompt="A worker catches `CancelledError`, does not re-raise it, works 0.2 s more and returns a value. "
               "The caller wraps it in `asyncio.timeout(0.1)`. What does the caller get?",
        options=(
            Option("`TimeoutError` after about 0.1 s",
                   why="A timeout cannot stop code by force: it cancels, and the cancellation is an exception "
                       "the worker is free to catch and ignore."),
            Option("the worker's value after about 0.3 s, and no `TimeoutError`", correct=True),
            Option("`CancelledError`",
                   why="The timeout turns the cancellation *it* caused into `TimeoutError`; here no cancellation "
                       "comes out of the worker at all."),
        ),
        explain="Swallowing `CancelledError` breaks every timeout around your code: re-raise it.",
    ),
    Question(
        id="07.cancel_at_begin",
        prompt="A write's task is cancelled while it awaits `BEGIN IMMEDIATE`, which is *before* its `try`. "
               "What happens to the next write on the same connection?",
        options=(
            Option("it commits: the cancelled BEGIN never ran",
                   why="Cancelling the await does not recall the statement: aiosqlite already queued it for "
                       "its thread, which runs it anyway."),
            Option("it never commits: the connection stays inside the transaction that BEGIN opened",
                   correct=True),
            Option("it waits for ever for the lock",
                   why="`async with lock` releases the lock on any exception, `CancelledError` included; the "
                       "damage is in the connection, not the lock."),
        ),
        explain="The `try` whose `except` would roll back was never entered.",
    ),
]
