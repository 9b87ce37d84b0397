"""The app as a whole: the lesson stages, settings from the environment, background jobs, and uvicorn."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bookshelf import STAGES, Behaviour, Settings, create_app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]

# What each stage adds, as (method, path, status with an empty shelf).
PROBES = {
    3: ("GET", "/books/1/details", 200),
    4: ("GET", "/shelf", 200),
    5: ("GET", "/books/1/similar", 200),
    6: ("GET", "/jobs/1", 404),  # the route exists: an unknown job is a JSON 404, not a missing route
}


@pytest.mark.parametrize("stage", STAGES)
async def test_each_stage_has_its_endpoints_and_no_later_ones(backend, app_client, stage):
    async with app_client(stage=stage) as (app, client):
        assert (await client.get("/")).json()["stage"] == stage
        for probe_stage, (method, path, status) in PROBES.items():
            response = await client.request(method, path)
            if probe_stage <= stage:
                assert response.status_code == status, (path, response.text)
                if status == 404:
                    assert response.json()["detail"] == "job 1 not found"
            else:
                assert response.status_code in (404, 405), path
                assert response.json()["detail"] == "Not Found"


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="stage"):
        create_app(stage=7)


def test_settings_from_environment(tmp_path):
    env = {"BOOKSHELF_DB": str(tmp_path / "x.db"), "BOOKSHELF_RATINGS_URL": "http://ratings.example:8001/",
           "BOOKSHELF_SIMULATE": "inprocess", "BOOKSHELF_SEED": "3", "BOOKSHELF_UPSTREAM_TIMEOUT": "0.5",
           "BOOKSHELF_LATENCY": "0.01", "BOOKSHELF_FAILURE_RATE": "0.25"}
    s = Settings.from_env(env)
    assert s.database == str(tmp_path / "x.db") and s.ratings_url == "http://ratings.example:8001"
    assert s.prices_url is None and s.simulate == "inprocess" and s.seed == 3 and s.upstream_timeout == 0.5
    assert s.prices == Behaviour(0.01, Settings().prices.jitter, 0.25)
    assert Settings.from_env({}) == Settings()
    with pytest.raises(ValueError):
        Settings.from_env({"BOOKSHELF_SIMULATE": "cloud"})
    with pytest.raises(ValueError):
        Settings().with_behaviour(weather=Behaviour())


async def test_similar_books_and_loop_monitor(backend, client):
    similar = (await client.get("/books/2/similar", params={"limit": 3})).json()
    assert len(similar) == 3 and all(b["author"] == "Jane Austen" for b in similar)
    assert (await client.get("/books/2/similar", params={"limit": 0})).status_code == 422
    await asyncio.sleep(0.12)
    lag = (await client.get("/health/loop")).json()
    assert lag["samples"] >= 1 and lag["max_lag_ms"] >= 0


async def test_refresh_job_fills_the_cache_that_details_fall_back_on(backend, app_client):
    async with app_client() as (app, client):
        for book_id in (10, 11, 12):
            await client.post("/shelf", json={"book_id": book_id})
        job = await client.post("/jobs/refresh-ratings")
        assert job.status_code == 202 and job.json()["total"] == 3
        for _ in range(100):
            state = (await client.get(f"/jobs/{job.json()['id']}")).json()
            if state["state"] == "finished":
                break
            await asyncio.sleep(0.02)
        assert state == {"id": 1, "state": "finished", "total": 3, "done": 3, "failed": 0, "errors": {}}
        assert set(await app.state.refresher.cached_ids()) == {10, 11, 12}

        app.state.upstream_apps["ratings"].state.behaviour = Behaviour(failure_rate=1.0)
        details = (await client.get("/books/10/details")).json()
        assert details["rating"] == (await app.state.refresher.cached_rating(10)).model_dump()
        assert details["degraded"]["ratings"].endswith("(served a cached rating)")
        assert (await client.get("/books/13/details")).json()["rating"] is None

        explicit = await client.post("/jobs/refresh-ratings", json={"book_ids": [1, 1, 2]})
        assert explicit.status_code == 202 and explicit.json()["total"] == 2
        assert (await client.post("/jobs/refresh-ratings", json={"book_ids": [0]})).status_code == 422
    # shutdown drained or cancelled the workers: none is left running
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("bookshelf-worker")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_uvicorn_serves_the_finished_app(tmp_path):
    port = free_port()
    env = {**os.environ, "BOOKSHELF_DB": str(tmp_path / "uvicorn.db")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bookshelf.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "info", "--no-access-log"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "uvicorn exited"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/books/1", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not answer within 20 s"
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["id"] == 1
        details = httpx.get(f"http://127.0.0.1:{port}/books/1/details", timeout=5).json()
        assert details["degraded"] == {} and details["rating"] is not None
        assert httpx.post(f"http://127.0.0.1:{port}/shelf", json={"book_id": 1}, timeout=5).status_code == 201
        recommended = httpx.get(f"http://127.0.0.1:{port}/recommendations", timeout=5)
        assert recommended.status_code == 200, recommended.text
        assert recommended.headers.get("x-request-id"), "the shipped app carries request ids (lesson 07)"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ""
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal: the exit status says SIGTERM
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output, output
    assert (tmp_path / "uvicorn.db").exists()
