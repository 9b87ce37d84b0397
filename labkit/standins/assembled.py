"""The app ``uvicorn`` serves while your ``myshelf.main`` cannot run yet: your parts where they exist, stand-ins elsewhere.

``uvicorn labkit.standins.assembled:app`` builds the finished Bookshelf app from ``Settings.from_env()`` with
``labkit.myshelf.app_parts`` (your parts, or their stand-ins: uvicorn's output says which, one line each),
request ids (``bookshelf.observability.instrument``), and your ``add_recommendations`` from
``myshelf/recommendations.py`` or its stand-in. Its log lines name their logger and request id, as the
capstone's acceptance suite reads them. Lesson 09 serves it until ``myshelf.main`` imports.
"""

from __future__ import annotations

import logging
import sys

from bookshelf import LAST_STAGE, Settings, create_app
from bookshelf.observability import RequestIdFilter, instrument

from ..exercises.capstone import LOG_FORMAT
from ..myshelf import app_parts, part
from .lesson09 import add_recommendations as stand_in

__all__ = ["app"]

if "ipykernel" not in sys.modules:  # in a uvicorn process: log to its output, each line with its request id
    _handler = logging.StreamHandler()
    _handler.addFilter(RequestIdFilter())
    _handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger("bookshelf").addHandler(_handler)
    logging.getLogger("bookshelf").setLevel(logging.INFO)

_add = part("recommendations", "add_recommendations", lesson="09", stand_in=stand_in,
            what="one rating call after another, no limit, deadline, cache or request ids")
app = _add(instrument(create_app(Settings.from_env(), stage=LAST_STAGE, parts=app_parts(9))))
