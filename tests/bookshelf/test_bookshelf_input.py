"""Bad input and a busy database: every answer is a documented 4xx or a 503, never a 500, never an echo."""

from __future__ import annotations

import asyncio
import time

import aiosqlite
import pytest

from bookshelf import Settings

pytestmark = pytest.mark.anyio
JSON = {"content-type": "application/json"}
BODY_ENDPOINTS = [("POST", "/shelf"), ("PATCH", "/shelf/1"), ("POST", "/jobs/refresh-ratings")]


async def test_a_big_body_is_413_at_once_and_the_loop_stays_free(backend, client):
    big = b'{"book_ids": [' + b"1," * 2_000_000 + b'1]}'  # 4 MB of JSON

    async def trickle():  # no Content-Length: the bytes are counted as they arrive
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    async def timed_get() -> float:
        await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        assert (await client.get("/books/1")).status_code == 200
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    declared, get_time = await asyncio.gather(client.post("/jobs/refresh-ratings", content=big, headers=JSON),
                                              timed_get())
    elapsed = time.perf_counter() - t0
    streamed = await client.post("/jobs/refresh-ratings", content=trickle(), headers=JSON)
    assert declared.status_code == 413 and streamed.status_code == 413, (declared.text, streamed.text)
    assert len(declared.content) < 200 and b"1,1,1" not in declared.content
    assert elapsed < 1.0 and get_time < 0.5, f"413 after {elapsed:.2f} s, a concurrent GET took {get_time:.2f} s"
    assert (await client.post("/shelf", json={"book_id": 1})).status_code == 201  # normal bodies still work


async def test_error_bodies_never_echo_the_input(backend, client):
    marker = "do-not-echo-" + "x" * 300
    for method, path in BODY_ENDPOINTS:
        response = await client.request(method, path, json={"book_id": marker, "status": marker, "x": marker})
        assert response.status_code == 422, response.text
        assert "do-not-echo" not in response.text and '"input"' not in response.text, response.text
        assert response.json()["detail"][0]["msg"]  # still says what is wrong


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
async def test_non_finite_numbers_are_422(backend, client, method, path, number):
    await client.post("/shelf", json={"book_id": 1})
    body = {"/shelf": '{"book_id": %s}', "/shelf/1": '{"note": %s}'}.get(path, '{"book_ids": [%s]}') % number
    response = await client.request(method, path, content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("body", [b'{"book_id": 1, "note": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000,
                                  b'{"book_id": ' + b"[" * 40 + b"]" * 40 + b"}"],
                         ids=["invalid-utf8", "nested-100k", "nested-40"])
async def test_undecodable_or_deeply_nested_json_is_a_clear_422(backend, client, body):
    response = await client.post("/shelf", content=body, headers=JSON)
    if len(body) > 65536:
        assert response.status_code == 413
        return
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    assert "UTF-8" in error["ctx"]["error"] or "nested deeper" in error["ctx"]["error"], error


@pytest.mark.parametrize("body", [{"book_id": True}, {"book_id": "3"}, {"book_id": 3.5}])
async def test_ids_must_be_json_integers(backend, client, body):
    assert (await client.post("/shelf", json=body)).status_code == 422
    assert (await client.post("/jobs/refresh-ratings", json={"book_ids": [body["book_id"]]})).status_code == 422
    assert (await client.get("/shelf")).json() == []


async def test_wrong_method_is_405_with_every_allowed_method(backend, client):
    response = await client.get("/jobs/refresh-ratings")
    assert response.status_code == 405 and response.headers["allow"] == "POST", response.text
    response = await client.put("/shelf/1", json={})
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    assert (await client.get("/jobs/abc")).status_code == 404


@pytest.mark.parametrize("stage", [3, 6])
async def test_author_search_folds_case_beyond_ascii(backend, app_client, stage):
    async with app_client(stage=stage) as (_, client):
        totals = {a: (await client.get("/books", params={"author": a})).json()["total"]
                  for a in ("brontë", "BRONTË", "Brontë")}
    assert totals["brontë"] > 0 and len(set(totals.values())) == 1, totals


async def test_a_locked_database_is_503_with_retry_after(app_client, tmp_path):
    path = tmp_path / "busy.db"
    async with app_client(Settings.ephemeral(database=path)) as (app, client):
        await app.state.db.conn.execute("PRAGMA busy_timeout=100")
        async with aiosqlite.connect(path) as other:  # another process, in the middle of a long write
            await other.execute("BEGIN IMMEDIATE")
            response = await client.post("/shelf", json={"book_id": 1})
            await other.rollback()
        assert response.status_code == 503 and response.headers["retry-after"] == "1", response.text
        assert (await client.post("/shelf", json={"book_id": 1})).status_code == 201
