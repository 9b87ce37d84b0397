"""bookshelf.recommend: the CPU job lesson 05 sends to a process pool."""

from __future__ import annotations

import concurrent.futures
import multiprocessing

from bookshelf.catalogue import load_books
from bookshelf.recommend import catalogue_size, recommend_range, similar_books
from bookshelf.settings import DATA_FILE


def test_recommend_range_matches_similar_books_for_its_slice():
    books = load_books(DATA_FILE)
    assert catalogue_size() == len(books)
    got = recommend_range(10, 13, limit=3)
    assert list(got) == [b.id for b in books[10:13]]
    for book in books[10:13]:
        assert got[book.id] == [b.id for b in similar_books(books, book, 3)]
    assert recommend_range(5, 5) == {}


def test_recommend_range_runs_in_a_spawned_process_pool():
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(recommend_range, 0, 2, 2).result(timeout=60) == recommend_range(0, 2, 2)
