"""labkit.serve leaves the process's logging configuration alone."""

from __future__ import annotations

import logging

import httpx

import labkit
from apps import make_app


def test_serving_does_not_reconfigure_uvicorn_loggers():
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    before = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    with labkit.serve(make_app(), name="t-logging") as server:
        assert httpx.get(server.url + "/ping").status_code == 200
    assert [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers] == before
