"""labkit: the helper package the lessons import (what learners use).

Small modules, one per concern, each short enough to read:

* ``labkit.serving``: run a FastAPI/ASGI app inside the notebook's kernel (``serve``, ``serve_on_loop``).
* ``labkit.timing``: time sequential against concurrent work; speedup and efficiency (``compare``).
* ``labkit.load``: a small load generator: fixed concurrency, requests/s, latency percentiles (``run_load``).
* ``labkit.plots``: the charts the lessons draw from those timings and load runs.
* ``labkit.widgets``: ipywidgets panels that re-run a measurement and redraw its chart.
* ``labkit.checks``: the self-checks learners run and the grader reuses (``check``).
* ``labkit.environment``: lesson 00's environment check.
* ``labkit.questions``: predict-then-run questions (``ask``), each wrong answer naming its misconception.

Course authors' tools live in the package ``authoring`` and the instructors' grader in ``grader``; both
import ``labkit``, never the other way round. The Bookshelf app (``bookshelf``) imports none of them.
"""

from .checks import check, run_check
from .plots import plot
from .questions import ask
from .serving import RunningServer, running_servers, serve, serve_on_loop, stop_all
from .timing import Comparison, compare, pick, quick

__all__ = ["ask", "check", "run_check", "plot", "serve", "serve_on_loop", "RunningServer", "running_servers",
           "stop_all", "compare", "Comparison", "pick", "quick"]
__version__ = "0.1.0"
