"""The catalogue endpoints: listing with filters and pagination, one book, and input the API must refuse."""

from __future__ import annotations

import pytest

from bookshelf.catalogue import BookFilter, load_books
from bookshelf.settings import DATA_FILE

pytestmark = pytest.mark.anyio
BOOKS = load_books(DATA_FILE)


def test_seed_data_is_a_few_hundred_real_rows():
    assert len(BOOKS) >= 200
    assert len({b.id for b in BOOKS}) == len(BOOKS)
    assert len({(b.title, b.author) for b in BOOKS}) == len(BOOKS)
    for b in BOOKS:
        assert b.title and b.author and b.subjects, b
        assert b.year <= 1928, f"{b.title} ({b.year}) may still be under copyright somewhere"
        assert len(b.language) == 2 and b.language.islower(), b
        assert all(s == s.strip().lower() for s in b.subjects), b


async def test_about_and_openapi(backend, client):
    about = (await client.get("/")).json()
    assert about["app"] == "bookshelf" and about["stage"] == 6
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ["/books", "/books/{book_id}", "/books/{book_id}/details", "/shelf", "/shelf/{book_id}"]:
        assert path in paths


async def test_pages_cover_the_catalogue_without_overlap(backend, client):
    first = (await client.get("/books", params={"limit": 50})).json()
    second = (await client.get("/books", params={"limit": 50, "offset": 50})).json()
    assert first["total"] == second["total"] == len(BOOKS)
    ids = [b["id"] for b in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 100
    assert (await client.get("/books", params={"offset": 10_000})).json()["items"] == []
    assert (await client.get("/books")).json()["limit"] == 20


async def test_get_one_book_and_unknown_ids(backend, client):
    book = (await client.get("/books/1")).json()
    assert book == BOOKS[0].model_dump()
    missing = await client.get("/books/999999")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    for bad in ["0", "-3", "abc", "1.5", str(2**70)]:
        assert (await client.get(f"/books/{bad}")).status_code == 422, bad


FILTERS = [
    {"language": "fr"},
    {"subject": "GOTHIC"},
    {"author": "dickens"},
    {"q": "the"},
    {"year_from": 1900, "year_to": 1910},
    {"language": "en", "subject": "detective", "year_to": 1900},
    {"q": "' OR 1=1 --"},
    {"author": "%"},
    {"subject": "no such subject"},
]


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize("stage", [3, 6], ids=["memory", "sqlite"])
async def test_filters_match_the_seed_data(backend, app_client, stage, params):
    expected = [b for b in BOOKS if BookFilter(**params).matches(b)]
    async with app_client(stage=stage) as (_, client):
        page = (await client.get("/books", params={**params, "limit": 100})).json()
    assert page["total"] == len(expected)
    assert [b["id"] for b in page["items"]] == [b.id for b in expected[:100]]


async def test_filters_do_what_they_say(backend, client):
    page = (await client.get("/books", params={"language": "de", "year_from": 1900, "limit": 100})).json()
    assert page["total"] > 0
    assert all(b["language"] == "de" and b["year"] >= 1900 for b in page["items"])
    injection = (await client.get("/books", params={"q": "x'; DROP TABLE books; --"})).json()
    assert injection["total"] == 0
    assert (await client.get("/books")).json()["total"] == len(BOOKS)  # the table is still there


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"offset": -1}, {"language": "EN"}, {"language": "english"},
    {"year_from": "abc"}, {"q": ""}, {"q": "x" * 101}, {"offset": 2**70},
])
async def test_bad_query_parameters_are_422(backend, client, params):
    response = await client.get("/books", params=params)
    assert response.status_code == 422, response.text
