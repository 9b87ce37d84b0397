"""Start real Redis and PostgreSQL servers from a notebook, each on a free port in its own temporary folder.

    redis = labkit.services.redis()        # redis-server on 127.0.0.1:<free port>
    pg = labkit.services.postgres()        # PostgreSQL: initdb in a temporary folder, then the server
    print(redis.url, pg.url)               # redis://127.0.0.1:..../0   postgresql://postgres@127.0.0.1:..../postgres
    redis.stop(); pg.stop()                # or labkit.services.stop_all()

Each server is a child process watched by mirakuru (the process runner under pytest-redis and
pytest-postgresql). Like ``labkit.serve``, starting again under the same ``name`` stops the previous
server first, and every server still running when the kernel exits is stopped; stopping ends the process
and deletes its folder, so re-running a cell leaks no process, port or data directory.

When a server program is missing, :class:`ServiceMissing` says what to install (Debian/Ubuntu, macOS,
Windows); in a notebook it shows that message alone, without a traceback.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from mirakuru import TCPExecutor
from mirakuru.exceptions import ExecutorError

__all__ = ["Service", "RedisServer", "PostgresServer", "ServiceMissing", "redis", "postgres", "available",
           "missing_message", "running", "stop_all"]

_registry: dict[str, "Service"] = {}
_lock = threading.Lock()

_INSTALL = {
    "redis": ("Redis", "redis-server", "redis-server", "redis"),
    "postgres": ("PostgreSQL", "postgres (with initdb)", "postgresql", "postgresql@16"),
}


class ServiceMissing(RuntimeError):
    """A server program is not installed; the message says how to install it."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the learner sees only what to do.
        return [str(self)]


def missing_message(*kinds: str) -> str:
    """What to install for the servers ``kinds`` (``"redis"``, ``"postgres"``) on each system."""
    kinds = kinds or tuple(_INSTALL)
    names = " and ".join(_INSTALL[k][0] for k in kinds)
    programs = ", ".join(f"`{_INSTALL[k][1]}`" for k in kinds)
    debian = " ".join(_INSTALL[k][2] for k in kinds)
    brew = " ".join(_INSTALL[k][3] for k in kinds)
    return (
        f"This lesson needs a real {names} server, and {programs} was not found on this machine.\n"
        f"Install it, then restart the kernel and run the lesson again:\n"
        f"  Debian/Ubuntu:     sudo apt-get install -y {debian}\n"
        f"  macOS (Homebrew):  brew install {brew}\n"
        f"  Windows:           run the course inside WSL (Ubuntu), and use the Debian/Ubuntu line there\n"
        f"On Binder both servers are already installed. Lessons 00-09 do not need them."
    )


def _redis_binary() -> str | None:
    return shutil.which("redis-server")


def _postgres_bindir() -> Path | None:
    """The folder holding ``postgres`` and ``initdb``: on PATH, or where Debian/Ubuntu or Homebrew put it."""
    found = shutil.which("postgres") or shutil.which("initdb")
    if found:
        folder = Path(found).resolve().parent
        if (folder / "postgres").exists() and (folder / "initdb").exists():
            return folder
    candidates = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/opt/homebrew/opt/postgresql@*/bin") \
        + glob.glob("/usr/local/opt/postgresql@*/bin") + glob.glob("/opt/homebrew/opt/postgresql/bin") \
        + glob.glob("/usr/local/opt/postgresql/bin")

    def version(path: str) -> tuple[int, ...]:
        digits = "".join(c if c.isdigit() else " " for c in path)
        return tuple(int(part) for part in digits.split()) or (0,)

    for folder in sorted(candidates, key=version, reverse=True):
        if Path(folder, "postgres").exists() and Path(folder, "initdb").exists():
            return Path(folder)
    return None


def available() -> dict[str, bool]:
    """Which servers this machine can start: ``{"redis": bool, "postgres": bool}``."""
    return {"redis": _redis_binary() is not None, "postgres": _postgres_bindir() is not None}


class _Executor(TCPExecutor):
    """mirakuru's TCP executor that, when given ``ready_text``, also waits for the server to log it.

    PostgreSQL accepts TCP connections while it is still starting and turns them away ("the database
    system is starting up"); it is ready once it logs "ready to accept connections".
    """

    def __init__(self, *args: object, log: Path, ready_text: str | None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._log_path, self._ready_text = log, ready_text

    def after_start_check(self) -> bool:
        if not super().after_start_check():
            return False
        if self._ready_text is None:
            return True
        return self._ready_text in self._log_path.read_text(errors="replace")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Service:
    """A server process on ``127.0.0.1:<port>`` with its own temporary folder."""

    kind = "service"

    def __init__(self, name: str) -> None:
        self.name = name
        self.host = "127.0.0.1"
        self.port = _free_port(self.host)
        self.folder = Path(tempfile.mkdtemp(prefix=f"labkit-{self.kind}-"))
        self._log = self.folder / "server.log"
        self._executor: TCPExecutor | None = None

    @property
    def url(self) -> str:  # pragma: no cover - each kind has its own
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        process = self._executor.process if self._executor else None
        return process.pid if process else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return bool(self._executor and self._executor.running())

    def log(self, last: int = 20) -> str:
        """The last ``last`` lines the server printed."""
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-last:])
        except FileNotFoundError:
            return ""

    def _start(self, command: list[str], *, stop_signal: int, user: str | None, timeout: float,
               ready_text: str | None = None) -> None:
        with open(self._log, "ab") as out:
            self._executor = _Executor(
                command, log=self._log, ready_text=ready_text, host=self.host, port=self.port, timeout=timeout, sleep=0.02, stop_signal=stop_signal,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                popen_kwargs={"user": user} if user else None)
            try:
                self._executor.start()
            except ExecutorError as exc:
                output = self.log()
                self.stop()
                raise RuntimeError(f"{self.kind} did not start on port {self.port}: {exc}\n{output}") from None

    def stop(self) -> None:
        """Stop the server (waiting for it to exit) and delete its folder. Safe to call twice."""
        executor, self._executor = self._executor, None
        if executor is not None:
            try:
                executor.stop()
            except ExecutorError:  # it exited with an error code: it is stopped all the same
                pass
            finally:
                if executor.running():
                    executor.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
        with _lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name!r} {self.url} {'running' if self.running else 'stopped'}>"


class RedisServer(Service):
    """``redis-server`` on a free port, keeping nothing on disk (no snapshots, no append-only file)."""

    kind = "redis"

    def __init__(self, name: str, timeout: float) -> None:
        binary = _redis_binary()
        if binary is None:
            raise ServiceMissing(missing_message("redis"))
        super().__init__(name)
        self._start([binary, "--port", str(self.port), "--bind", self.host, "--dir", str(self.folder),
                     "--save", "", "--appendonly", "no", "--daemonize", "no"],
                    stop_signal=signal.SIGTERM, user=None, timeout=timeout)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``, for ``redis.asyncio.from_url``."""
        return f"redis://{self.host}:{self.port}/0"


class PostgresServer(Service):
    """A PostgreSQL cluster created by ``initdb`` in a temporary folder, served by ``postgres`` on a free port.

    PostgreSQL refuses to run as root; when the kernel is root, ``initdb`` and the server run as the
    ``postgres`` user that Debian's package creates. Connections from this machine need no password.
    """

    kind = "postgres"
    user = "postgres"
    database = "postgres"

    def __init__(self, name: str, timeout: float, settings: dict[str, str] | None) -> None:
        bindir = _postgres_bindir()
        if bindir is None:
            raise ServiceMissing(missing_message("postgres"))
        run_as = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            import pwd

            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceMissing("PostgreSQL refuses to run as root, and there is no `postgres` user to run "
                                     "it as. Run the course as an ordinary user, or create the user: "
                                     "sudo useradd --system postgres") from None
            run_as = "postgres"
        super().__init__(name)
        if run_as:
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.data = self.folder / "data"
        with open(self._log, "ab") as out:
            done = subprocess.run(
                [str(bindir / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
                 "--locale=C", "--no-sync"],  # --locale=C: English log lines, whatever the machine's language
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, user=run_as, timeout=timeout)
        if done.returncode != 0:
            output = self.log()
            self.stop()
            raise RuntimeError(f"initdb failed (exit code {done.returncode}):\n{output}")
        options = ["-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
                   *[part for key, value in (settings or {}).items() for part in ("-c", f"{key}={value}")]]
        # SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions instead of waiting for them.
        self._start([str(bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), *options],
                    stop_signal=signal.SIGINT, user=run_as, timeout=timeout,
                    ready_text="database system is ready to accept connections")

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/postgres``, for ``asyncpg.connect`` / ``create_pool``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """The same address as ``url``, under the name asyncpg's ``connect(dsn=...)`` gives it."""
        return self.url


def _register(name: str, make: "type[Service]", *args: object) -> Service:
    with _lock:
        previous = _registry.pop(name, None)
    if previous is not None:
        previous.stop()
    service = make(name, *args)  # type: ignore[call-arg]
    with _lock:
        _registry[name] = service
    return service


def redis(name: str = "redis", *, timeout: float = 20.0) -> RedisServer:
    """Start ``redis-server`` on a free port (stopping the previous server of this ``name``); return it."""
    return _register(name, RedisServer, timeout)  # type: ignore[return-value]


def postgres(name: str = "postgres", *, settings: dict[str, str] | None = None,
             timeout: float = 60.0) -> PostgresServer:
    """Create a PostgreSQL cluster in a temporary folder and serve it on a free port; return it.

    ``settings`` are server settings, e.g. ``{"max_connections": "20"}``.
    """
    return _register(name, PostgresServer, timeout, settings)  # type: ignore[return-value]


def running() -> list[Service]:
    """The servers this process started that have not been stopped."""
    with _lock:
        return list(_registry.values())


def stop_all() -> None:
    """Stop every server this process started and delete their folders."""
    for service in running():
        service.stop()


# Registered after mirakuru's own exit hook (which SIGKILLs what is left), so it runs first: a clean stop.
atexit.register(stop_all)
