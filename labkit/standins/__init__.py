"""Stand-ins for parts of your app that an earlier exercise should have built, used only while yours is missing.

A stand-in keeps a lesson running from top to bottom; it is deliberately *not* the exercise's answer:
it does less (no validation, no concurrency, no retry, ...), and the exercise's self-check fails it.
``labkit.myshelf.part(...)`` says in one line when it uses one. One module per lesson or two; ``assembled``
(not imported here) is the whole app ``uvicorn`` serves in lesson 09 while the learner's ``myshelf.main`` cannot.
"""

from .lesson06 import stop_now
from .lesson07 import install_nothing
from .lesson09 import add_recommendations
from .lessons_02_03 import call_once, notes_app
from .lessons_04_05 import add_as_want_to_read, move_nothing, run_inline, search_exact_case

__all__ = ["notes_app", "call_once", "search_exact_case", "add_as_want_to_read", "move_nothing", "run_inline",
           "stop_now", "install_nothing", "add_recommendations"]
