"""labkit: the course's helper package.

Small modules, one per concern, each short enough to read:

* ``labkit.serving``: run a FastAPI/ASGI app inside the notebook's kernel (``serve``, ``serve_on_loop``).
* ``labkit.timing``: time sequential against concurrent work; speedup and efficiency (``compare``).
* ``labkit.load``: a small load generator: fixed concurrency, requests/s, latency percentiles (``run_load``).
* ``labkit.plots``: the charts the lessons draw from those timings and load runs.
* ``labkit.widgets``: ipywidgets panels that re-run a measurement and redraw its chart.
* ``labkit.checks``: the self-checks learners run and the grader reuses (``check``).
* ``labkit.environment``: lesson 00's environment check.
* ``labkit.editions``: generate the learner notebooks from the solutions.
* ``labkit.grading``: run a learner's notebook cells and checks in a kernel (used by ``exercises_tests``).
* ``labkit.navigation``: the lessons' previous | index | next bars, the index notebook, the README map.
* ``labkit.binder``: keep ``binder/requirements.txt`` in step with ``requirements.txt``.
"""

from .checks import check, run_check
from .serving import RunningServer, running_servers, serve, serve_on_loop, stop_all
from .timing import Comparison, compare, pick, quick

__all__ = ["check", "run_check", "serve", "serve_on_loop", "RunningServer", "running_servers",
           "stop_all", "compare", "Comparison", "pick", "quick"]
__version__ = "0.1.0"
