"""A short fault soak: slow, failing upstreams over real HTTP, then recovery. Afterwards the HTTP client's
pool holds no "active" connection and no socket to an upstream is left half-closed (CLOSE_WAIT).

Cancelling an httpx request from outside (``asyncio.timeout`` around ``client.get``) leaves connections
"active" forever and sockets in CLOSE_WAIT (encode/httpcore#1093); the client's own timeouts do not.
``benchmarks/soak.py`` runs the same for minutes and records pool, sockets and memory.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import psutil
import pytest

from bookshelf import Behaviour, Settings

pytestmark = pytest.mark.anyio

TIMEOUT = 0.3
FAULTY = Behaviour(latency=TIMEOUT - 0.01, jitter=0.03, failure_rate=0.3)  # about half the calls time out
HEALTHY = Behaviour(latency=0.01, jitter=0.0)


def pool_states(client: httpx.AsyncClient) -> list[str]:
    """The state of each connection in the client's pool: NEW, ACTIVE, IDLE or CLOSED."""
    pool = client._transport.transport._pool  # type: ignore[attr-defined]  # inside bookshelf's PoolGuard
    return [c.info().split(", ")[-2] if ", " in c.info() else c.info() for c in pool.connections]


def half_closed(ports: set[int]) -> int:
    """This process's sockets to one of ``ports`` that the peer closed and we did not (CLOSE_WAIT)."""
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port in ports and c.status == psutil.CONN_CLOSE_WAIT)


async def soak(client: httpx.AsyncClient, seconds: float, concurrency: int) -> dict[int, int]:
    """``concurrency`` loops asking for details until ``seconds`` have passed; status code counts."""
    codes: dict[int, int] = {}
    ids = itertools.count(1)
    end = time.monotonic() + seconds

    async def loop() -> None:
        while time.monotonic() < end:
            response = await client.get(f"/books/{next(ids) % 500 + 1}/details")
            codes[response.status_code] = codes.get(response.status_code, 0) + 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return codes


async def test_no_leaked_connections_after_a_fault_period(app_client):
    settings = Settings.ephemeral(simulate="thread", upstream_timeout=TIMEOUT, max_connections=10,
                                  max_keepalive_connections=10).with_behaviour(
        ratings=FAULTY, prices=FAULTY, covers=FAULTY)
    async with app_client(settings) as (app, client):
        upstream_client = app.state.upstreams.client
        ports = {int(url.rsplit(":", 1)[1]) for url in app.state.upstreams.urls.values()}
        codes = await soak(client, seconds=8, concurrency=30)
        assert set(codes) == {200}, codes  # degraded answers, never an error

        for upstream in app.state.upstream_apps.values():
            upstream.state.behaviour = HEALTHY
        await asyncio.sleep(TIMEOUT + 0.2)  # answers the upstreams still owe arrive or time out
        async def details(book_id: int) -> dict[str, str]:
            """``degraded`` of one call, asked again (up to 3 times) if a busy machine missed the 0.3 s deadline.

            A leaked pool degrades every call for good, so the retries cannot hide it.
            """
            for _ in range(3):
                degraded = (await client.get(f"/books/{book_id}/details")).json()["degraded"]
                if not degraded:
                    break
                await asyncio.sleep(0.2)
            return degraded

        recovered = []
        for first in range(1, 31, 3):  # 3 at a time: 9 upstream calls, fewer than the pool's 10 connections
            recovered += await asyncio.gather(*(details(i) for i in range(first, first + 3)))
        degraded = [d for d in recovered if d]
        states = pool_states(upstream_client)
        print(f"\nsoak: {codes}, pool after recovery {states}, CLOSE_WAIT {half_closed(ports)}")
        assert not degraded, f"{len(degraded)} of 30 calls still degraded after recovery, e.g. {degraded[0]}"
        assert set(states) <= {"IDLE", "CLOSED"}, states  # nothing ACTIVE or CONNECTING with no traffic
        assert half_closed(ports) == 0
