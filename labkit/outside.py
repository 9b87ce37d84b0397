"""Run an app the way you would outside Jupyter: the real ``uvicorn`` command, as a child process.

    server = labkit.outside.uvicorn("myshelf.main:app", workers=2)
    print(server.command)     # what you would type in a terminal
    ...                       # call server.url with any client
    server.stop()             # SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it hangs

Starting again under the same ``name`` stops the previous process first, and every process still
running when the kernel exits is stopped, so re-running a cell never leaks a process or a port.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["UvicornProcess", "uvicorn", "running", "stop_all"]

_registry: dict[str, "UvicornProcess"] = {}
_lock = threading.Lock()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class UvicornProcess:
    """A ``uvicorn`` child process serving one app on ``127.0.0.1:<port>``."""

    def __init__(self, target: str, *, name: str, port: int, host: str, workers: int, reload: bool,
                 cwd: Path, env: dict[str, str] | None) -> None:
        self.target, self.name, self.host, self.port = target, name, host, port
        self.workers, self.reload, self.cwd = workers, reload, cwd
        args = [target, "--host", host, "--port", str(port)]
        if workers > 1:
            args += ["--workers", str(workers)]
        if reload:
            args += ["--reload"]  # uvicorn watches the folder it runs in (cwd below)
        self.command = "uvicorn " + " ".join(shlex.quote(a) for a in args)
        """The same server as a command for a terminal (run it in the folder that holds your package)."""
        fd, log = tempfile.mkstemp(prefix=f"labkit-{name}-", suffix=".log")
        self._log_path = Path(log)
        with os.fdopen(fd, "wb") as out:
            # a new session: a Ctrl-C meant for the kernel does not reach it, and stop() can end the
            # whole group (uvicorn's worker or reloader children included)
            self.process = subprocess.Popen([sys.executable, "-m", "uvicorn", *args], cwd=cwd, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                                            start_new_session=True)

    @property
    def url(self) -> str:
        """Base URL for clients: ``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The process id of the ``uvicorn`` command (with workers, of their supervisor)."""
        return self.process.pid

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process.poll() is None

    def log(self, last: int = 20) -> str:
        """The last ``last`` lines uvicorn printed (startup, access log, errors)."""
        try:
            lines = self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-last:])

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once the port accepts connections; raise with uvicorn's own output if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"`{self.command}` exited with code {self.process.returncode}:\n{self.log()}")
            if _accepts(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"`{self.command}` did not accept connections within {timeout:g} s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask for a graceful shutdown (SIGTERM); after ``timeout`` seconds kill the whole process group."""
        if self.running:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever the group left behind (a worker that ignored SIGTERM) goes too
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        with _lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]
        self._log_path.unlink(missing_ok=True)

    def __enter__(self) -> "UvicornProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped (exit code {self.process.returncode})"
        return f"<uvicorn {self.name!r} {self.url} pid={self.pid} workers={self.workers} {state}>"


def uvicorn(target: str, *, name: str | None = None, workers: int = 1, reload: bool = False,
            cwd: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
            env: dict[str, str] | None = None, timeout: float = 30.0) -> UvicornProcess:
    """Start ``uvicorn target`` (e.g. ``"myshelf.main:app"``) in ``cwd`` on a free port; return once it accepts."""
    name = name or target
    with _lock:
        previous = _registry.pop(name, None)
    if previous is not None:
        previous.stop()
    folder = Path(cwd or os.environ.get("MYSHELF_HOME") or os.getcwd()).resolve()
    server = UvicornProcess(target, name=name, port=_free_port(host), host=host, workers=workers,
                            reload=reload, cwd=folder, env=env)
    with _lock:
        _registry[name] = server
    server.wait_ready(timeout)
    return server


def running() -> list[UvicornProcess]:
    """The uvicorn processes this kernel started that are still registered."""
    with _lock:
        return list(_registry.values())


def stop_all() -> None:
    """Stop every uvicorn process this kernel started."""
    for server in running():
        server.stop()


atexit.register(stop_all)
