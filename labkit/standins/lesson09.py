"""Stand-in for lesson 09's capstone (see the package docstring): not the answer, it does less.

``add_recommendations`` answers ``GET /recommendations`` with the right books, but asks for their ratings
one after another, every time: no limit shared by the requests, no deadline, no cache, no single flight,
no request ids, no log line. The capstone's self-check and its acceptance suite fail it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from bookshelf.fanout import UpstreamError
from bookshelf.recommendations import CANDIDATES_SQL, Recommendation, Recommendations, rank_key

__all__ = ["add_recommendations"]


def add_recommendations(app: FastAPI, *, limit: int = 4, deadline: float = 0.5, candidates: int = 10) -> FastAPI:
    """Lesson 09's capstone reduced to its query and one rating call after another (``limit`` and ``deadline`` unused)."""

    @app.get("/recommendations", tags=["lesson 09 (stand-in)"])
    async def recommendations(request: Request) -> Recommendations:
        """Books like those on your shelf, best-rated first (the course's stand-in: slow, no cache)."""
        async with request.app.state.db.conn.execute(CANDIDATES_SQL, (candidates,)) as cursor:
            rows = [dict(row) for row in await cursor.fetchall()]
        items = []
        for row in rows:
            try:
                rating: float | None = (await request.app.state.upstreams.rating(row["id"])).average
            except UpstreamError:
                rating = None
            items.append(Recommendation(book_id=row["id"], title=row["title"], author=row["author"],
                                        shared_subjects=row["shared"], rating=rating))
        missing = sorted(item.book_id for item in items if item.rating is None)
        return Recommendations(items=sorted(items, key=rank_key), partial=bool(missing), missing=missing)

    return app
