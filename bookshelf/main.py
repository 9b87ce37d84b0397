"""``uvicorn bookshelf.main:app`` serves the finished app, configured from ``BOOKSHELF_*`` variables.

With nothing set it needs nothing: the database is a file in a per-user temp folder and the three
simulated upstream services start in background threads. See :meth:`bookshelf.Settings.from_env`.
Every request gets a request id (``X-Request-ID``) and unexpected errors answer with a JSON 500 that
names it (lesson 07, :mod:`bookshelf.observability`); ``GET /recommendations`` is lesson 09's capstone.
"""

from .app import create_app
from .observability import instrument
from .recommendations import add_recommendations
from .settings import Settings

app = add_recommendations(instrument(create_app(Settings.from_env())))
