"""Lesson 00's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="00.first_await",
        prompt="A cell runs `await asyncio.sleep(0.3)` three times, one after the other. How long does the cell take?",
        options=(
            Option("about 0.3 s", why="`await` waits for each sleep to finish before the next line starts; "
                   "nothing here runs at the same time."),
            Option("about 0.9 s", correct=True),
            Option("almost nothing: await does not wait", why="`await` does wait: it pauses this code until the "
                   "awaited thing is done, and lets *other* tasks run meanwhile."),
        ),
        explain="Awaiting one thing after another is sequential; concurrency needs several tasks.",
    ),
]
