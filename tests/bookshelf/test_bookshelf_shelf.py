"""The shelf (reading list): CRUD, the right status codes, and no input that can hurt the database."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.anyio


async def test_crud_round_trip(backend, client):
    created = await client.post("/shelf", json={"book_id": 7, "note": "read in October"})
    assert created.status_code == 201
    entry = created.json()
    assert entry["book_id"] == 7 and entry["title"] == "Frankenstein"
    assert entry["status"] == "want_to_read" and entry["note"] == "read in October"
    assert (await client.get("/shelf/7")).json() == entry
    await client.post("/shelf", json={"book_id": 92, "status": "reading"})
    assert [e["book_id"] for e in (await client.get("/shelf")).json()] == [7, 92]
    assert [e["book_id"] for e in (await client.get("/shelf", params={"status": "reading"})).json()] == [92]

    changed = await client.patch("/shelf/7", json={"status": "read"})
    assert changed.status_code == 200
    assert changed.json()["status"] == "read" and changed.json()["note"] == "read in October"
    assert (await client.patch("/shelf/7", json={"note": ""})).json()["note"] == ""

    deleted = await client.delete("/shelf/7")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/shelf/7")).status_code == 404
    assert (await client.delete("/shelf/7")).status_code == 404
    assert (await client.patch("/shelf/7", json={"status": "read"})).status_code == 404


async def test_duplicate_is_409_and_unknown_book_is_404(backend, client):
    assert (await client.post("/shelf", json={"book_id": 1})).status_code == 201
    duplicate = await client.post("/shelf", json={"book_id": 1, "status": "read"})
    assert duplicate.status_code == 409 and "already on the shelf" in duplicate.json()["detail"]
    assert (await client.get("/shelf/1")).json()["status"] == "want_to_read"  # the original is untouched
    unknown = await client.post("/shelf", json={"book_id": 999_999})
    assert unknown.status_code == 404
    assert len((await client.get("/shelf")).json()) == 1


@pytest.mark.parametrize("body", [
    {}, {"book_id": "abc"}, {"book_id": 0}, {"book_id": 2**70}, {"book_id": 1.5},
    {"book_id": 1, "status": "finished"}, {"book_id": 1, "note": "x" * 501},
    {"book_id": 1, "surprise": True}, [1, 2], "book_id=1", None,
], ids=repr)
async def test_invalid_bodies_are_422(backend, client, body):
    response = await client.post("/shelf", json=body)
    assert response.status_code == 422, response.text
    assert (await client.get("/shelf")).json() == []


async def test_hostile_input_never_breaks_the_app(backend, client):
    attempts = [
        client.post("/shelf", content=b"{not json", headers={"content-type": "application/json"}),
        client.post("/shelf", content=b"\xff\xfe\x00", headers={"content-type": "application/json"}),
        client.post("/shelf", content=b'{"book_id": 3, "note": "\\ud800"}',
                    headers={"content-type": "application/json"}),
        client.post("/shelf", json={"book_id": 4, "note": "'); DELETE FROM shelf; --\x00"}),
        client.patch("/shelf/4", json={"status": None, "note": None}),
        client.patch("/shelf/4", json={"status": "read", "extra": 1}),
        client.get("/shelf", params={"status": "nope"}),
        client.get("/shelf/" + "9" * 400),
        client.delete("/shelf/-1"),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code < 500, response.text
    entries = (await client.get("/shelf")).json()
    assert {e["book_id"] for e in entries} <= {3, 4}
    if any(e["book_id"] == 4 for e in entries):
        assert (await client.get("/shelf/4")).json()["note"].startswith("'); DELETE FROM shelf")
    assert (await client.get("/books")).json()["total"] > 200


async def test_200_concurrent_writes_end_with_exactly_200_rows(backend, app_client):
    async with app_client() as (app, client):
        responses = await asyncio.gather(*(
            client.post("/shelf", json={"book_id": book_id, "note": f"note {book_id}"})
            for book_id in range(1, 201)))
        assert sorted(r.status_code for r in responses) == [201] * 200
        assert len((await client.get("/shelf")).json()) == 200
        assert await app.state.shelf.count() == 200


async def test_concurrent_duplicates_give_one_201_and_the_rest_409(backend, client):
    responses = await asyncio.gather(*(client.post("/shelf", json={"book_id": 5}) for _ in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 49
    assert len((await client.get("/shelf")).json()) == 1


async def test_file_database_uses_wal_and_keeps_data_across_restarts(app_client, tmp_path):
    from bookshelf import Settings

    settings = Settings.ephemeral(database=tmp_path / "shelf.db")
    async with app_client(settings) as (app, client):
        async with app.state.db.conn.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"
        assert (await client.post("/shelf", json={"book_id": 12})).status_code == 201
    async with app_client(settings) as (_, client):
        assert [e["book_id"] for e in (await client.get("/shelf")).json()] == [12]
