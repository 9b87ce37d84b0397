"""Serve an ASGI app over real HTTP from a background thread: how ``simulate="thread"`` runs the services.

``ThreadServer(app, name=...).start()`` binds 127.0.0.1 on a free port, runs uvicorn with its own event
loop in a daemon thread, and returns once the server accepts connections; ``.stop()`` (or ``await
.astop()``) ends it, joins the thread and frees the port. It stays quiet: the access lines and the INFO
lines uvicorn logs from this thread (startup, shutdown) are dropped by a filter, so they never land in
the log of the app that embeds it; warnings and errors still get through. (uvicorn's own switches would
not do: ``access_log=False`` and ``log_level`` change the shared ``uvicorn.*`` loggers for the whole
process, the main server's included.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["ThreadServer", "THREAD_PREFIX"]

THREAD_PREFIX = "bookshelf-server-"


class _QuietThreads(logging.Filter):
    """Drop records below WARNING logged from a ``ThreadServer`` thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.threadName.startswith(THREAD_PREFIX)


_quiet = _QuietThreads()


class _Server(uvicorn.Server):
    """uvicorn that leaves the process's signal handlers alone (they belong to the main server)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listening_socket() -> socket.socket:
    """A socket on 127.0.0.1, port 0 (the OS picks a free one: no race with another process)."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the listening socket says
    # TCP; without it every response waits ~40 ms (Nagle's algorithm meets delayed ACKs).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class ThreadServer:
    """One uvicorn server in one daemon thread, on a port of its own."""

    def __init__(self, app: Any, *, name: str) -> None:
        self.name = name
        self._sock = _listening_socket()
        self.port: int = self._sock.getsockname()[1]
        # log_config=None and log_level=None: configure nothing process-wide (the main server owns logging).
        config = uvicorn.Config(app, log_config=None, log_level=None, loop="asyncio",
                                lifespan="auto", timeout_graceful_shutdown=2)
        self._server = _Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53211``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "ThreadServer":
        """Start the thread and wait (at most ``timeout`` s) until the server accepts connections."""
        for name in ("uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            if _quiet not in logger.filters:
                logger.addFilter(_quiet)

        def run() -> None:
            try:
                self._server.run(sockets=[self._sock])
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._error = exc

        self._thread = threading.Thread(target=run, name=THREAD_PREFIX + self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._sock.close()
                raise RuntimeError(f"server {self.name!r} failed to start: {self._error!r}") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server {self.name!r} did not start within {timeout} s")
            time.sleep(0.002)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit, wait for its thread, close the socket. Safe to call twice."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()

    async def astop(self, timeout: float = 5.0) -> None:
        """``stop()`` without blocking the running event loop."""
        await asyncio.to_thread(self.stop, timeout)
