"""Run an ASGI app with uvicorn inside the current process (the notebook's kernel).

Two ways, both bound to 127.0.0.1 on a free port:

* ``serve(app)`` runs uvicorn in a daemon thread with its own event loop. Sync and async
  clients both work, and the kernel's loop stays free. This is what the lessons use.
* ``await serve_on_loop(app)`` runs uvicorn as a task on the *kernel's* event loop. Async
  clients work; a blocking (sync) client call from the same thread cannot be answered,
  because the loop that must answer is the one it blocks. Lesson 02 shows that on purpose.

Starting a server under a ``name`` that is already running stops the old one first, so
re-running a notebook cell never leaks a thread or a port; it also gets the same port again when that
port is free, so a docs tab opened earlier keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from .docs import self_host_docs

__all__ = ["RunningServer", "serve", "serve_on_loop", "running_servers", "stop_all", "public_url"]

_registry: dict[str, "RunningServer"] = {}
_registry_lock = threading.Lock()
_last_port: dict[str, int] = {}  # name -> the port it last ran on, reused when free


class _Server(uvicorn.Server):
    """A uvicorn server that never touches the process's signal handlers (the kernel owns them)
    and stops as soon as it is asked to.

    uvicorn checks ``should_exit`` every 0.1 s and then waits a fixed 0.1 s for connections to
    close, so a stop took ~0.2 s, and so did re-serving under the same name (it stops the old
    server first). Here setting ``should_exit`` wakes the server's loop at once, and shutdown
    polls every few milliseconds until the connections have closed.
    """

    _POLL = 0.005  # seconds between checks while connections close

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        super().__init__(config)

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self._exit_requested

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        # Set from any thread (stop() runs in the caller's): wake main_loop instead of waiting for its tick.
        self._exit_requested = value
        loop, wakeup = self._loop, self._wakeup
        if value and loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(wakeup.set)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn's loop (on_tick every 0.1 s), except that a stop request ends the wait at once.
        # The event exists before the first check of should_exit, so a request is never missed.
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The steps of uvicorn's Server.shutdown (0.54), polling instead of sleeping 0.1 s at a time.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            await asyncio.wait_for(self._connections_closed(), self.config.timeout_graceful_shutdown)
        except asyncio.TimeoutError:
            logging.getLogger("uvicorn.error").error(
                "Cancel %s running task(s), timeout graceful shutdown exceeded", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _connections_closed(self) -> None:
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
            await asyncio.sleep(self._POLL)
        for server in self.servers:
            await server.wait_closed()


def _listening_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP (not 0) matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # listening socket says TCP, and without it every response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        if port:
            raise OSError(
                f"port {port} is in use: pass port=0 to pick a free port, "
                f"or stop the server that holds it (labkit.stop_all())"
            ) from exc
        raise
    return sock


def public_url(port: int, path: str = "/") -> str:
    """The address a *browser* uses to reach a kernel server on ``port``.

    Locally that is ``http://127.0.0.1:<port><path>``. Behind JupyterHub or Binder the kernel
    runs in a container the browser cannot reach; jupyter-server-proxy forwards
    ``$JUPYTERHUB_SERVICE_PREFIX/proxy/<port>/`` to it, so that address is returned instead.
    """
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if prefix:
        return f"{prefix.rstrip('/')}/proxy/{port}{path}"
    return f"http://127.0.0.1:{port}{path}"


def _proxy_root_path(port: int) -> str:
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    return f"{prefix.rstrip('/')}/proxy/{port}" if prefix else ""


class RunningServer:
    """A uvicorn server started by :func:`serve` or :func:`serve_on_loop`.

    Use ``.url`` from code in the kernel and ``.docs_url`` (or ``.show_docs_link()``) in a browser.
    Stop it with ``.stop()`` (or ``await .astop()`` for an on-loop server), or use it as a
    context manager.
    """

    def __init__(self, app: Any, *, name: str, mode: str, host: str, sock: socket.socket) -> None:
        self.app = self_host_docs(app)
        self.name = name
        self.mode = mode
        self.host = host
        self.port: int = sock.getsockname()[1]
        self._sock = sock
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        root_path = _proxy_root_path(self.port)
        self._server = _Server(
            uvicorn.Config(
                app,
                # log_config=None and log_level=None: leave the process's logging alone (the
                # kernel's, or another uvicorn's). Access lines are INFO, so they stay quiet unless
                # the learner turns logging up; uvicorn's warnings still reach stderr.
                log_config=None,
                log_level=None,
                loop="asyncio",
                lifespan="auto",
                root_path=root_path,
                timeout_graceful_shutdown=2,
            )
        )

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL for code running in the kernel, e.g. ``http://127.0.0.1:53211``."""
        return f"http://{self.host}:{self.port}"

    @property
    def docs_url(self) -> str:
        """Swagger UI address for the learner's browser (proxied when behind a hub)."""
        return public_url(self.port, "/docs")

    def show_docs_link(self) -> None:
        """Display a clickable link to the app's interactive docs in the notebook."""
        from IPython.display import HTML, display

        display(HTML(f'<a href="{self.docs_url}" target="_blank">Open the interactive API docs '
                     f'({self.docs_url})</a>'))

    # -- state -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the server accepts connections."""
        if self.mode == "thread":
            alive = self._thread is not None and self._thread.is_alive()
        else:
            alive = self._task is not None and not self._task.done()
        return alive and bool(self._server.started) and not self._server.should_exit

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RunningServer {self.name!r} {self.mode} {self.url} {state}>"

    # -- thread mode -----------------------------------------------------------------------
    def _start_thread(self, timeout: float) -> None:
        def target() -> None:
            try:
                self._server.run(sockets=[self._sock])
            except BaseException as exc:  # noqa: BLE001 - reported to the caller of serve()
                self._error = exc

        self._thread = threading.Thread(target=target, name=f"labkit-server-{self.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._close_socket()
                raise RuntimeError(f"server {self.name!r} failed to start: {self._error!r}") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server {self.name!r} did not start within {timeout} s")
            time.sleep(0.002)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server, wait for its thread, free the port. Safe to call twice."""
        if self.mode == "loop":
            raise RuntimeError("this server runs on the kernel's loop: use `await server.astop()`")
        self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        self._close_socket()
        _forget(self)

    # -- loop mode -------------------------------------------------------------------------
    async def _start_task(self, timeout: float) -> None:
        async def target() -> None:
            try:
                await self._server.serve(sockets=[self._sock])
            except BaseException as exc:  # noqa: BLE001
                self._error = exc
                raise

        self._task = asyncio.get_running_loop().create_task(target(), name=f"labkit-server-{self.name}")
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._task.done():
                self._close_socket()
                raise RuntimeError(f"server {self.name!r} failed to start: {self._error!r}") from self._error
            if time.monotonic() > deadline:
                await self.astop()
                raise TimeoutError(f"server {self.name!r} did not start within {timeout} s")
            await asyncio.sleep(0.002)

    async def astop(self, timeout: float = 5.0) -> None:
        """Stop an on-loop server (also works for a thread server, without blocking the loop)."""
        if self.mode == "thread":
            await asyncio.to_thread(self.stop, timeout)
            return
        self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                self._server.force_exit = True
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
            except BaseException:  # noqa: BLE001 - the task's own failure was recorded in _error
                pass
        self._close_socket()
        _forget(self)

    def _close_socket(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    # -- context managers ------------------------------------------------------------------
    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "RunningServer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()


def _forget(server: RunningServer) -> None:
    with _registry_lock:
        if _registry.get(server.name) is server:
            del _registry[server.name]


def _socket_for(name: str, host: str, port: int) -> socket.socket:
    if port == 0 and name in _last_port:
        with contextlib.suppress(OSError):
            return _listening_socket(host, _last_port[name])
    return _listening_socket(host, port)


def _claim_name(name: str | None, app: Any) -> tuple[str, RunningServer | None]:
    name = name or f"app-{id(app):x}"
    with _registry_lock:
        previous = _registry.get(name)
    return name, previous


def serve(app: Any, *, port: int = 0, name: str | None = None, host: str = "127.0.0.1",
          timeout: float = 10.0) -> RunningServer:
    """Serve ``app`` from a background thread and return once it accepts connections.

    ``port=0`` picks a free port, or the port this ``name`` had last if it is free. Serving again
    under the same ``name`` stops the previous server first. The returned :class:`RunningServer`
    has ``.url``, ``.port`` and ``.stop()``.
    """
    name, previous = _claim_name(name, app)
    if previous is not None:
        if previous.mode == "loop":
            raise RuntimeError(f"server {name!r} runs on the kernel loop: `await` its `.astop()` first")
        previous.stop()
    server = RunningServer(app, name=name, mode="thread", host=host, sock=_socket_for(name, host, port))
    server._start_thread(timeout)
    with _registry_lock:
        _registry[name] = server
        _last_port[name] = server.port
    return server


async def serve_on_loop(app: Any, *, port: int = 0, name: str | None = None, host: str = "127.0.0.1",
                        timeout: float = 10.0) -> RunningServer:
    """Serve ``app`` as a task on the *current* event loop (in a notebook: the kernel's own loop).

    Only async clients awaited on the same loop can talk to it; see the module docstring.
    """
    name, previous = _claim_name(name, app)
    if previous is not None:
        await previous.astop()
    server = RunningServer(app, name=name, mode="loop", host=host, sock=_socket_for(name, host, port))
    await server._start_task(timeout)
    with _registry_lock:
        _registry[name] = server
        _last_port[name] = server.port
    return server


def running_servers() -> list[RunningServer]:
    """The servers started by this process that have not been stopped."""
    with _registry_lock:
        return list(_registry.values())


def stop_all() -> None:
    """Stop every thread server started by :func:`serve` (on-loop servers need ``astop``)."""
    for server in running_servers():
        if server.mode == "thread":
            server.stop()
