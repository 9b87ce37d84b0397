"""HTTP clients side by side: httpx, httpx2, aiohttp and raw asyncio sockets (the floor), one server.

    python benchmarks/clients.py            # N = 10, 20, 50, 200; median of 7; writes clients.md next to this file
    python benchmarks/clients.py --quick    # N = 10, 20; median of 1 (smoke run)
    python benchmarks/clients.py --out DIR  # write clients.md somewhere else

The server is standalone uvicorn in its own process (``apps:app``, asyncio + h11, like ``labkit.serve``), so
this process's CPU time is the client's. Each row is N concurrent ``GET /slow`` (the endpoint awaits 0.1 s):

* **new**: a new client (or N new connections) inside the timing, as the lessons do;
* **connected**: a client that already holds N open connections (one untimed batch first).

"share of ideal" is 0.1 s over the batch's wall time (100% = every call overlapped perfectly); "client CPU
per request" is this process's CPU time for the batch over N. A library that is not installed is skipped.

The cancellation check (the libraries only) starts 20 calls to a 2 s endpoint, cancels them from outside
after 0.3 s (``asyncio.wait_for`` around the batch), waits until the server has answered and closed the idle
connections (uvicorn's keep-alive timeout, 5 s), and counts this process's TCP connections to the server that
are left in CLOSE_WAIT (the server closed them, the client never did) while the client is still open.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import raw_get, uvicorn_process  # noqa: E402

DELAY = 0.1
CLIENTS = ("raw sockets", "httpx", "httpx2", "aiohttp")


def available(name: str) -> bool:
    if name == "raw sockets":
        return True
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def version(name: str) -> str:
    if name == "raw sockets":
        return f"asyncio (Python {platform.python_version()})"
    return f"{name} {importlib.metadata.version(name)}"


class Session:
    """One client of one library, with ``get(path)`` -> status and ``close()``."""

    def __init__(self, name: str, base: str, n: int) -> None:
        self.name, self.base, self.n = name, base, n
        self.host, self.port = urlsplit(base).hostname or "127.0.0.1", urlsplit(base).port or 80
        self._free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._all: list[asyncio.StreamWriter] = []
        if name in ("httpx", "httpx2"):
            lib = importlib.import_module(name)
            self._client = lib.AsyncClient(base_url=base, timeout=30,
                                           limits=lib.Limits(max_connections=n, max_keepalive_connections=n))
        elif name == "aiohttp":
            import aiohttp

            self._client = aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=n),
                                                 timeout=aiohttp.ClientTimeout(total=30))

    async def get(self, path: str) -> int:
        if self.name in ("httpx", "httpx2"):
            return (await self._client.get(path)).status_code
        if self.name == "aiohttp":
            async with self._client.get(path) as response:
                await response.read()
                return response.status
        # raw sockets: a keep-alive connection per call in flight, reused afterwards
        conn = self._free.pop() if self._free else await asyncio.open_connection(self.host, self.port)
        if conn[1] not in self._all:
            self._all.append(conn[1])
        status = await raw_get(*conn, self.host, path)
        self._free.append(conn)
        return status

    async def close(self) -> None:
        if self.name in ("httpx", "httpx2"):
            await self._client.aclose()
        elif self.name == "aiohttp":
            await self._client.close()
        else:
            for writer in self._all:
                writer.close()


async def batch(session: Session, n: int, path: str) -> None:
    statuses = await asyncio.gather(*(session.get(path) for _ in range(n)))
    assert statuses == [200] * n, statuses


async def measure(name: str, base: str, n: int, connected: bool) -> tuple[float, float]:
    """Wall seconds and client CPU seconds of one batch of N concurrent calls."""
    path = f"/slow?delay={DELAY}"
    if connected:
        session = Session(name, base, n)
        await batch(session, n, path)  # opens N connections, untimed
    cpu, t0 = time.process_time(), time.perf_counter()
    if not connected:
        session = Session(name, base, n)
    try:
        await batch(session, n, path)
        return time.perf_counter() - t0, time.process_time() - cpu
    finally:
        await session.close()


async def cancellation_leak(name: str, base: str, n: int) -> int:
    """CLOSE_WAIT connections left behind by N calls cancelled from outside, with the client still open."""
    session = Session(name, base, n)
    port = session.port
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(batch(session, n, "/slow?delay=2"), 0.3)
        await asyncio.sleep(2 + 5 + 1.5)  # the server answers, then closes idle connections after 5 s
        return sum(1 for c in psutil.Process().net_connections(kind="tcp")
                   if c.raddr and c.raddr.port == port and c.status == psutil.CONN_CLOSE_WAIT)
    finally:
        await session.close()


def median_run(fn: Callable[[], Awaitable[tuple[float, float]]], repeat: int) -> tuple[float, float]:
    runs = [asyncio.run(fn()) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10, 20, one run each: a smoke run")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for clients.md")
    args = parser.parse_args(argv)
    sizes, repeat = ([10, 20], 1) if args.quick else ([10, 20, 50, 200], 7)
    names = [n for n in CLIENTS if available(n)]
    load_start = tuple(round(x, 2) for x in os.getloadavg())
    rows: list[dict[str, Any]] = []
    leaks: dict[str, int] = {}
    with uvicorn_process() as (base, _):
        for n in sizes:
            for name in names:
                for connected in (False, True):
                    wall, cpu = median_run(lambda: measure(name, base, n, connected), repeat)
                    rows.append({"n": n, "client": name, "connected": connected, "wall_s": wall,
                                 "share": DELAY / wall, "cpu_us_per_request": cpu / n * 1e6})
        for name in names[1:]:  # not raw sockets: they have no pool to leak from
            leaks[name] = asyncio.run(cancellation_leak(name, base, 20))
    load_end = tuple(round(x, 2) for x in os.getloadavg())
    text = render(rows, leaks, names, (load_start, load_end), args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clients.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def render(rows: list[dict[str, Any]], leaks: dict[str, int], names: list[str],
           load: tuple[tuple[float, ...], tuple[float, ...]], quick: bool) -> str:
    out = ["# HTTP clients side by side", "",
           f"{'QUICK smoke run: too few repeats to quote. ' if quick else ''}"
           f"Measured {dt.date.today().isoformat()} on {os.cpu_count()} cores, {platform.system()}, "
           f"Python {platform.python_version()}; load average at start {load[0]}, at end {load[1]}. "
           f"Clients: {', '.join(version(n) for n in names)}. Server: standalone uvicorn "
           f"{importlib.metadata.version('uvicorn')} (asyncio + h11) in its own process.", "",
           f"N concurrent calls to an endpoint that awaits {DELAY} s; share of the ideal {DELAY} s "
           "(median wall time), and this process's CPU per request.", "",
           "| N | client | new: share of ideal | new: CPU/request | connected: share of ideal | "
           "connected: CPU/request |", "| --- | --- | --- | --- | --- | --- |"]
    for n in sorted({r["n"] for r in rows}):
        for name in names:
            new, conn = (next(r for r in rows if r["n"] == n and r["client"] == name and r["connected"] is c)
                         for c in (False, True))
            out.append(f"| {n} | {name} | {new['share']:.0%} | {new['cpu_us_per_request']:.0f} µs | "
                       f"{conn['share']:.0%} | {conn['cpu_us_per_request']:.0f} µs |")
    out += ["", "Cancellation: 20 calls to a 2 s endpoint cancelled from outside after 0.3 s; connections left in "
            "CLOSE_WAIT with the client still open:", "",
            "| client | CLOSE_WAIT connections |", "| --- | --- |"]
    out += [f"| {name} | {leaks[name]} |" for name in leaks]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
