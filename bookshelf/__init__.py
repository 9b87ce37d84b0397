"""bookshelf: the async Bookshelf API that lessons 03-06 build, as an importable package.

* ``bookshelf.create_app(settings, stage=N)``: the app as it stands after lesson N (3 to 6).
* ``bookshelf.main:app``: the finished app for ``uvicorn bookshelf.main:app``.
* One module per concern: ``settings``, ``models``, ``catalogue``, ``db``, ``upstreams`` (simulated
  third-party services), ``fanout`` (calling them), ``monitor``, ``recommend``, ``jobs``, ``routes``.
"""

from .app import LAST_STAGE, STAGES, create_app
from .settings import Behaviour, Settings

__all__ = ["create_app", "Settings", "Behaviour", "STAGES", "LAST_STAGE"]
