"""labkit.services: real Redis and PostgreSQL servers start, answer, and stop without leaving a process or a folder.

Each test is skipped, with the install line in its reason, when its server program is missing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from labkit import services

needs_redis = pytest.mark.skipif(
    not services.available()["redis"],
    reason="redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)")
needs_postgres = pytest.mark.skipif(
    not services.available()["postgres"],
    reason="PostgreSQL is not installed (Debian/Ubuntu: apt-get install postgresql; "
           "macOS: brew install postgresql@16)")


def processes_using(folder: object) -> list[psutil.Process]:
    """Processes working in ``folder`` (a server's data directory), by working directory or command line.

    Redis rewrites its command line (and the environment after it) to a short title, so its folder shows only
    as its working directory (``--dir`` changes into it); PostgreSQL changes into its data directory too.
    """
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cwd = proc.cwd()
        except psutil.Error:
            cwd = ""
        if cwd.startswith(str(folder)) or any(str(folder) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def listening(port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in psutil.net_connections("tcp"))


def assert_gone(service: services.Service) -> None:
    assert not service.running
    assert not service.folder.exists(), f"{service.folder} was left behind"
    assert not processes_using(service.folder), "a server process outlived stop()"
    assert not listening(service.port)
    assert service not in services.running()


@needs_redis
def test_redis_starts_answers_and_stops_without_leftovers():
    import redis.asyncio as aioredis

    server = services.redis(name="t-redis")
    try:
        assert server.running and server.folder.is_dir()
        assert server.url == f"redis://127.0.0.1:{server.port}/0"

        async def use() -> list[int]:
            client = aioredis.from_url(server.url)
            try:
                return [await client.incr("n") for _ in range(3)]
            finally:
                await client.aclose()

        assert asyncio.run(use()) == [1, 2, 3]
    finally:
        server.stop()
    assert_gone(server)
    server.stop()  # twice is fine


@needs_postgres
def test_postgres_starts_answers_and_stops_without_leftovers():
    import asyncpg

    server = services.postgres(name="t-postgres", settings={"max_connections": "23"})
    try:
        assert server.url.startswith("postgresql://") and server.dsn == server.url

        async def use() -> tuple[str, int]:
            conn = await asyncpg.connect(server.url)
            try:
                await conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
                await conn.execute("INSERT INTO t VALUES (1), (2)")
                return await conn.fetchval("SHOW max_connections"), await conn.fetchval("SELECT count(*) FROM t")
            finally:
                await conn.close()

        assert asyncio.run(use()) == ("23", 2)
        if os.geteuid() == 0:  # PostgreSQL refuses root: the helper runs it as the postgres user
            assert psutil.Process(server.pid).username() == "postgres"
    finally:
        server.stop()
    assert_gone(server)


@needs_redis
def test_starting_again_under_the_same_name_stops_the_previous_server():
    first = services.redis(name="t-again")
    second = services.redis(name="t-again")
    try:
        assert_gone(first)
        assert second.running
        assert services.running().count(second) == 1
    finally:
        services.stop_all()
    assert_gone(second)


@needs_redis
@needs_postgres
def test_a_process_that_exits_without_stopping_leaves_nothing_behind(tmp_path):
    script = textwrap.dedent("""
        from labkit import services
        r, p = services.redis(), services.postgres()
        print(r.folder, p.folder, r.port, p.port, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    redis_folder, pg_folder, redis_port, pg_port = done.stdout.split()
    for folder in (redis_folder, pg_folder):
        assert not os.path.exists(folder), f"{folder} was left behind"
        assert not processes_using(folder)
    assert not listening(int(redis_port)) and not listening(int(pg_port))


def test_a_missing_server_gives_one_message_naming_each_install(monkeypatch):
    monkeypatch.setattr(services, "_redis_binary", lambda: None)
    monkeypatch.setattr(services, "_postgres_bindir", lambda: None)
    assert services.available() == {"redis": False, "postgres": False}
    with pytest.raises(services.ServiceMissing) as caught:
        services.redis(name="t-missing")
    message = str(caught.value)
    for install in ("apt-get install -y redis-server", "brew install redis", "WSL"):
        assert install in message
    assert caught.value._render_traceback_() == [message]  # IPython shows the message, not a traceback
    with pytest.raises(services.ServiceMissing, match="apt-get install -y postgresql"):
        services.postgres(name="t-missing-pg")
    # (other tests in this process may hold servers of their own: only these two must be absent)
    assert not [s for s in services.running() if s.name in ("t-missing", "t-missing-pg")]


def test_binder_and_ci_install_the_servers():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    apt = (root / "binder" / "apt.txt").read_text().split()
    assert {"redis-server", "postgresql"} <= set(apt)
    assert "binder/apt.txt" in (root / "scripts" / "simulate_binder.sh").read_text()
    assert "redis-server postgresql" in (root / ".ci" / "run").read_text()


@needs_redis
@needs_postgres
def test_servers_of_a_killed_process_are_stopped_by_the_next_start():
    script = textwrap.dedent("""
        import os, signal
        from labkit import services
        r, p = services.redis(name="orphan-r"), services.postgres(name="orphan-p")
        print(r.folder, p.folder, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)      # no exit hook runs
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    folders = done.stdout.split()
    assert len(folders) == 2 and all(os.path.isdir(f) for f in folders), done.stderr
    if sys.platform.startswith("linux"):  # the servers got their parent-death signal and stop by themselves
        deadline = time.monotonic() + 30
        while any(processes_using(f) for f in folders) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(processes_using(f) for f in folders), "a server outlived the process that started it"
    server = services.redis(name="t-after-orphans")   # any start cleans up what a killed process left
    server.stop()
    for folder in folders:
        assert not processes_using(folder) and not os.path.exists(folder), f"{folder} is still there"
