"""``uvicorn bookshelf.main:app`` serves the finished app, configured from ``BOOKSHELF_*`` variables.

With nothing set it needs nothing: the database is a file in a per-user temp folder and the three
simulated upstream services start in background threads. See :meth:`bookshelf.Settings.from_env`.
"""

from .app import create_app
from .settings import Settings

app = create_app(Settings.from_env())
