"""The finished app stands alone: it never imports the course helper, keeps its data in the user's own
folder, says where, and the simulated services it embeds stay out of its log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bookshelf import Settings
from bookshelf.settings import default_database

ROOT = Path(__file__).resolve().parents[2]

# Runs `uvicorn bookshelf.main:app` as the command line does, and says at the end whether labkit was imported.
# (uvicorn shuts down gracefully on SIGTERM, then restores the previous handler and raises the signal again.)
UVICORN_WITH_REPORT = """
import runpy, signal, sys
def report(*_):
    print("LABKIT IMPORTED:", sorted(m for m in sys.modules if m.split(".")[0] == "labkit"), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, report)
sys.argv = ["uvicorn", "bookshelf.main:app", "--host", "127.0.0.1", "--port", "0", "--log-level", "info"]
runpy.run_module("uvicorn", run_name="__main__")
"""


def test_importing_the_package_never_imports_labkit():
    code = ("import sys, bookshelf, bookshelf.main, bookshelf.threadserver; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'labkit'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "BOOKSHELF_SIMULATE": "inprocess", "BOOKSHELF_DB": ":memory:"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_uvicorn_runs_the_app_with_thread_services_and_never_imports_labkit(tmp_path):
    env = {**os.environ, "BOOKSHELF_DB": str(tmp_path / "standalone.db"), "BOOKSHELF_SIMULATE": "thread",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", UVICORN_WITH_REPORT], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while not any("Uvicorn running on" in line for line in lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        url = next(line for line in lines if "Uvicorn running on" in line).split("running on ")[1].split()[0]
        details = httpx.get(f"{url}/books/1/details", timeout=10).json()
        assert details["degraded"] == {}, details  # the three thread services answered over HTTP
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    log = "".join(lines) + rest
    assert "LABKIT IMPORTED: []" in log, log
    assert log.count("Application startup complete") == 1, log  # the app's own, not the services'
    assert log.count("Started server process") == 1, log
    assert '"GET /books/1/details HTTP/1.1" 200' in log, log  # the app's own access line is there
    assert "/ratings/1" not in log and "/prices/1" not in log, log  # no access lines of the services
    assert f"Bookshelf database: {tmp_path / 'standalone.db'}" in log, log


def test_default_database_is_in_the_users_data_folder(tmp_path, monkeypatch):
    assert default_database({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "bookshelf" / "bookshelf.db"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "bookshelf" / "bookshelf.db"
    assert default_database({}) == expected
    assert default_database({"XDG_DATA_HOME": "relative/ignored"}) == expected  # the spec says: absolute only
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Path(Settings().database) == tmp_path / "xdg" / "bookshelf" / "bookshelf.db"
    assert Settings.from_env({"BOOKSHELF_DB": str(tmp_path / "x.db")}).database == str(tmp_path / "x.db")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert Path(Settings().database) == expected  # never the shared temp folder


@pytest.mark.anyio
async def test_the_database_path_is_logged_at_startup(app_client, capture_logs, tmp_path):
    records = capture_logs("uvicorn.error")
    async with app_client(Settings.ephemeral(database=tmp_path / "logged.db")):
        pass
    assert [r.getMessage() for r in records.records] == [
        f"Bookshelf database: {tmp_path / 'logged.db'}",
        f"Bookshelf backends: database SQLite {tmp_path / 'logged.db'}; shared state in this process"]


@pytest.mark.anyio
async def test_thread_services_start_and_stop_cleanly(app_client):
    import threading

    before = {t.name for t in threading.enumerate()}
    async with app_client(Settings.ephemeral(simulate="thread")) as (app, client):
        urls = app.state.upstreams.urls
        assert all(u.startswith("http://127.0.0.1:") for u in urls.values()), urls
        assert (await client.get("/books/2/details")).json()["degraded"] == {}
    assert {t.name for t in threading.enumerate() if t.name.startswith("bookshelf-")} - before == set()
    for url in urls.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/health", timeout=1)
