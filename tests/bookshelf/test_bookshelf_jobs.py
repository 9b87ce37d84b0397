"""The ratings refresher is bounded: known books only, a queue with a limit, pruned jobs, a capped cache,
and a shutdown that says what it dropped."""

from __future__ import annotations

import asyncio

import pytest

from bookshelf import Behaviour, Settings

pytestmark = pytest.mark.anyio
SLOW = Behaviour(latency=0.5, jitter=0.0)


async def finished(client, job_id: int) -> dict:
    for _ in range(200):
        state = (await client.get(f"/jobs/{job_id}")).json()
        if state.get("state") == "finished":
            return state
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish: {state}")


async def test_unknown_books_are_refused_and_never_queued(backend, app_client):
    async with app_client() as (app, client):
        response = await client.post("/jobs/refresh-ratings", json={"book_ids": [1, 999_999]})
        assert response.status_code == 404 and "999999" in response.json()["detail"], response.text
        assert await app.state.refresher.queued() == 0 and await app.state.refresher.job_ids() == []


async def test_a_full_queue_is_503_with_retry_after(backend, app_client):
    settings = Settings.ephemeral(workers=1, max_queued=5).with_behaviour(ratings=SLOW)
    async with app_client(settings) as (app, client):
        assert (await client.post("/jobs/refresh-ratings", json={"book_ids": [1, 2, 3, 4, 5, 6]})).status_code == 503
        assert (await client.post("/jobs/refresh-ratings", json={"book_ids": [1, 2, 3]})).status_code == 202
        full = await client.post("/jobs/refresh-ratings", json={"book_ids": [4, 5, 6, 7]})
        assert full.status_code == 503 and full.headers["retry-after"] == "1", full.text
        assert await app.state.refresher.queued() <= 5


async def test_finished_jobs_are_pruned_and_the_cache_is_capped(backend, app_client):
    settings = Settings.ephemeral(max_jobs=3, max_cached_ratings=4)
    async with app_client(settings) as (app, client):
        ids = []
        for first in range(1, 16, 3):
            job = (await client.post("/jobs/refresh-ratings", json={"book_ids": [first, first + 1, first + 2]}))
            ids.append(job.json()["id"])
            await finished(client, ids[-1])
        assert len(await app.state.refresher.job_ids()) == 3
        assert [(await client.get(f"/jobs/{i}")).status_code for i in ids] == [404, 404, 200, 200, 200]
        # the most recently refreshed: the last job's, one of the one before
        cached = await app.state.refresher.cached_ids()
        assert len(cached) == 4 and set(cached[1:]) == {13, 14, 15} and cached[0] in (10, 11, 12), cached


async def test_shutdown_logs_what_it_dropped(app_client, capture_logs):
    records = capture_logs("bookshelf.jobs")
    settings = Settings.ephemeral(workers=1).with_behaviour(ratings=SLOW)
    async with app_client(settings) as (app, client):
        job = (await client.post("/jobs/refresh-ratings", json={"book_ids": [1, 2, 3, 4]})).json()
        await asyncio.sleep(0.05)
        await app.state.refresher.close(drain=0.1)
    messages = [r.getMessage() for r in records.records]
    assert messages == [f"shutdown dropped 3 queued rating refresh(es) of job(s) {job['id']} (3)"], messages
