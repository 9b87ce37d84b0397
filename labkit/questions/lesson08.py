"""Lesson 08's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="08.no_lifespan",
        prompt="A test calls the Bookshelf app through `httpx.ASGITransport(app=app)`, without starting the app's "
               "lifespan. What does `GET /books/1` give?",
        options=(
            Option("200 and the book", why="`ASGITransport` sends HTTP requests only, never the lifespan's startup: "
                                           "the catalogue the startup builds does not exist."),
            Option("an exception raised in the test itself", correct=True),
            Option("a 500 response", why="A real server would answer 500; `ASGITransport` re-raises what the app "
                                         "did not handle (`raise_app_exceptions=True` by default), so the test "
                                         "sees the exception."),
        ),
        explain="Wrap the app in `LifespanManager` so that startup and shutdown run.",
    ),
    Question(
        id="08.unmarked_test",
        prompt="A test file holds `async def test_without_the_mark(): assert False`, with no anyio mark. What does "
               "pytest report for it?",
        options=(
            Option("passed: calling it only makes a coroutine, and no assert fails",
                   why="That is what calling it does, but pytest notices the coroutine it got back and does not "
                       "count it as a pass."),
            Option("failed, without running a line of it", correct=True),
            Option("failed on its `assert False`",
                   why="Nothing runs the coroutine without a plugin, so the assert is never reached."),
            Option("skipped, with a warning",
                   why="That was pytest before 8.4, when a suite could look green while a test never ran; this "
                       "environment's pytest fails it."),
        ),
        explain="Every async test needs a plugin's mark (or an automatic mode).",
    ),
    Question(
        id="08.tiny_deadline",
        prompt="The app's upstream deadline is 0.05 s and the prices service would take 30 s. What does "
               "`GET /books/1/price` give, and when?",
        options=(
            Option("a price, after about 30 s", why="The client stops waiting at its deadline; it never waits for "
                                                     "the service to finish."),
            Option("504, after about 0.05 s", correct=True),
            Option("200 with `price` null, after about 0.05 s",
                   why="Only `/details` degrades to a fallback; `/price` has nothing to fall back on, so a "
                       "too-slow service is a 504 there."),
        ),
        explain="A tiny deadline against an absurdly slow service gives the same verdict on every machine.",
    ),
    Question(
        id="08.sequential_fanout",
        prompt="The suite of `test_failures.py` runs once more with the *sequential* fan-out swapped in. Which of "
               "its three tests fail?",
        options=(
            Option("all three", why="The degraded and the 504 tests look only at the answer, and the sequential "
                                    "fan-out gets those answers right too."),
            Option("only the test that the three calls are in flight at once", correct=True),
            Option("none: the answers are the same",
                   why="`AllAtOnce` holds every call until all three are in flight; a sequential fan-out never "
                       "gets there, and the safety timeout fails it."),
        ),
        explain="A test is as good as the bugs it catches: ask which broken version would make it fail.",
    ),
]
