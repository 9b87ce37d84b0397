"""A small load generator: N concurrent workers send requests for a while, and you get the numbers.

    import labkit.load as load

    result = await load.run_load(server.url + "/ping", concurrency=20, duration=3.0)
    print(result.table())        # requests, errors, requests/s, p50/p95/p99 latency
    labkit.plot(result)          # throughput and latency percentiles (labkit.plots.load_charts)

How it works: ``concurrency`` worker tasks, each sending one request after another (a *closed*
loop: a worker sends its next request only when the previous one answered), so at most
``concurrency`` requests and connections are open at once. Requests to a real URL go through one
``aiohttp.ClientSession`` whose pool holds ``concurrency`` keep-alive connections: a load generator
must cost far less CPU per request than the server it measures, and on this course's measurements
aiohttp needed several times less client CPU per request than httpx 0.28 (``benchmarks/clients.md``),
staying close to bare asyncio sockets. ``client="httpx"`` sends them with httpx instead, one
``httpx.AsyncClient`` per worker; ``shared_client=True`` (httpx only) gives all workers one httpx
client with ``httpx.Limits(max_connections=concurrency)``, the way an application shares one
client; with httpx 0.28 / httpcore 1.0 that client's pool does bookkeeping on every request that
grows with the square of the number of connections (encode/httpcore#1035): at 50 workers it, not
the server, limits the rate. An in-process ``transport=httpx.ASGITransport(app=app)`` always uses
httpx. The run stops starting new
requests when ``duration`` seconds have passed or ``requests`` requests have been started,
whichever comes first, and waits for the ones in flight. Every request's latency (seconds
from sending to having read the whole body) and status code are kept in ``result.samples``.

Percentiles use the *nearest-rank* method: ``pXX`` is the smallest measured latency such that
at least XX % of the successful requests took no longer. It is always a latency that was
really observed; with few samples the high percentiles are simply the slowest requests.

Safety rails: only loopback targets (``127.0.0.0/8``, ``::1``, ``localhost``) or an in-process
``httpx.ASGITransport``; at most :data:`MAX_CONCURRENCY` workers, :data:`MAX_DURATION` seconds
and :data:`MAX_REQUESTS` requests per run.

A progress callback receives a :class:`Progress` about every ``progress_interval`` seconds and
once at the end (``p.done``, ``p.errors``, ``p.elapsed``, and ``p.fraction`` from 0 to 1), e.g. to
drive an ipywidgets ``FloatProgress`` or a tqdm bar::

    bar = ipywidgets.FloatProgress(min=0, max=1); display(bar)
    result = await load.run_load(url, concurrency=20, duration=3,
                                 progress=lambda p: setattr(bar, "value", p.fraction))

    with tqdm.auto.tqdm(total=100, unit="%") as bar:
        result = await load.run_load(url, concurrency=20, requests=2000,
                                     progress=lambda p: bar.update(round(p.fraction * 100) - bar.n))

Keep the numbers honest: a Python client costs CPU too (on a small machine the load generator,
not the server, often sets the pace), and a server in the same process as the client shares
its CPU. ``python -m labkit.load`` runs the generator in a process of its own.

From a shell (prints a table, or the result as JSON with ``--json``)::

    python -m labkit.load http://127.0.0.1:8000/ping --concurrency 20 --duration 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

__all__ = ["run_load", "LoadResult", "Sample", "Progress", "percentile", "format_table", "check_loopback",
           "MAX_CONCURRENCY", "MAX_DURATION", "MAX_REQUESTS"]

MAX_CONCURRENCY = 1000
"""Most workers one run may use."""
MAX_DURATION = 300.0
"""Longest run, in seconds."""
MAX_REQUESTS = 1_000_000
"""Most requests one run may send."""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of ``values`` at or below it.

    ``q`` is in [0, 100]; ``percentile(v, 0)`` is the minimum, ``percentile(v, 100)`` the maximum.
    Returns ``nan`` for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Sample:
    """One request: when it started (seconds after the run began), how long it took, what came back.

    ``status`` is the HTTP status code, or ``None`` when no response arrived (then ``error`` names
    the exception, e.g. ``"ConnectError"`` or ``"ReadTimeout"``).
    """

    start: float
    latency: float
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A response with a status below 400."""
        return self.status is not None and self.status < 400


@dataclass
class Progress:
    """What a progress callback receives: requests done so far, errors, seconds elapsed, and the goal."""

    done: int
    errors: int
    elapsed: float
    requests: int | None
    duration: float | None

    @property
    def fraction(self) -> float:
        """How far the run is, from 0 to 1 (by count or by time, whichever is further along)."""
        parts = [0.0]
        if self.requests:
            parts.append(self.done / self.requests)
        if self.duration:
            parts.append(self.elapsed / self.duration)
        return min(1.0, max(parts))


@dataclass
class LoadResult:
    """The outcome of one :func:`run_load`: every sample, and the figures computed from them.

    ``duration`` is the wall-clock time from the first request sent to the last one answered.
    Errors are requests with no response or with a status of 400 or more; the latency
    percentiles are computed over the successful requests only (a fast error is not a fast answer).
    """

    label: str
    url: str
    concurrency: int
    duration: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Requests completed (answered or failed)."""
        return len(self.samples)

    @property
    def errors(self) -> int:
        """Requests that failed: no response, or a status of 400 or more."""
        return sum(1 for s in self.samples if not s.ok)

    @property
    def requests_per_second(self) -> float:
        """Completed requests divided by the run's wall-clock duration."""
        return self.requests / self.duration if self.duration > 0 else 0.0

    @property
    def latencies(self) -> list[float]:
        """Latencies in seconds of the successful requests, in completion order."""
        return [s.latency for s in self.samples if s.ok]

    def percentile(self, q: float) -> float:
        """Latency percentile in seconds over the successful requests (nearest rank; nan if none)."""
        return percentile(self.latencies, q)

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def status_counts(self) -> dict[str, int]:
        """How many requests ended with each status code (``"error"`` for no response)."""
        return dict(Counter(str(s.status) if s.status is not None else "error" for s in self.samples))

    def summary(self) -> dict[str, Any]:
        """The headline figures as a plain dict (latencies in milliseconds), ready for JSON."""
        return {
            "label": self.label, "url": self.url, "concurrency": self.concurrency,
            "requests": self.requests, "errors": self.errors, "duration_s": round(self.duration, 4),
            "requests_per_second": round(self.requests_per_second, 1),
            "p50_ms": _ms(self.p50), "p95_ms": _ms(self.p95), "p99_ms": _ms(self.p99),
            "status_counts": self.status_counts,
        }

    def table(self) -> str:
        """A fixed-width table of the headline figures."""
        return format_table([self])

    def __str__(self) -> str:
        return self.table()


def _error_name(exc: BaseException) -> str:
    """The same names whichever client failed: httpx's exception names, which aiohttp's map onto."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, (aiohttp.SocketTimeoutError, asyncio.TimeoutError)):
        return "ReadTimeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                        aiohttp.ClientResponseError)):
        return "RemoteProtocolError"
    return type(exc).__name__


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)


def format_table(results: Sequence[LoadResult]) -> str:
    """Several results as one fixed-width table, one row each."""
    def num(x: float) -> str:
        return "-" if math.isnan(x) else f"{x * 1000:.1f}"

    rows = [("run", "conc.", "requests", "errors", "seconds", "req/s", "p50 ms", "p95 ms", "p99 ms")]
    for r in results:
        rows.append((r.label, str(r.concurrency), str(r.requests), str(r.errors), f"{r.duration:.2f}",
                     f"{r.requests_per_second:.0f}", num(r.p50), num(r.p95), num(r.p99)))
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, width)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines)


def check_loopback(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` points at this machine (a load test must not hit others)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"run_load only targets this machine (127.0.0.1, ::1, localhost), not {host!r}")


async def run_load(url: str, *, concurrency: int = 10, duration: float | None = None,
                   requests: int | None = None, method: str = "GET", timeout: float = 10.0,
                   progress: Callable[[Progress], Any] | None = None, progress_interval: float = 0.1,
                   transport: httpx.AsyncBaseTransport | None = None, label: str | None = None,
                   shared_client: bool = False, client: str | None = None,
                   **request_kwargs: Any) -> LoadResult:
    """Send requests to ``url`` from ``concurrency`` workers; return a :class:`LoadResult`.

    Give ``duration`` (seconds), ``requests`` (a total count), or both (the first reached wins).
    ``transport=httpx.ASGITransport(app=app)`` loads an app in-process, without a server.
    ``request_kwargs`` (``json=``, ``headers=``, ``params=`` ...) go to every request.
    ``progress(p)`` is called about every ``progress_interval`` s and once at the end.
    ``client`` is ``"aiohttp"`` (the default for a real URL) or ``"httpx"`` (the default, and the only
    choice, with a ``transport``). ``shared_client=True`` (httpx): one client for all workers instead of
    one each (see the module docstring); a ``transport`` is shared by all the workers' clients. A run lasts at most ``duration`` (or
    :data:`MAX_DURATION`) plus one request ``timeout``; cancelling it closes every connection.

    Example::

        result = await run_load(server.url + "/ping", concurrency=20, duration=2)
        print(result.table())
        result.requests_per_second, result.p95    # numbers to compare (latencies in seconds)
    """
    if transport is None or not isinstance(transport, httpx.ASGITransport):
        check_loopback(url)
    if duration is None and requests is None:
        raise ValueError("give a duration (seconds), a number of requests, or both")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}")
    if duration is not None and not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be above 0 and at most {MAX_DURATION} s, got {duration}")
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be between 1 and {MAX_REQUESTS}, got {requests}")
    if client is None:
        client = "httpx" if (transport is not None or shared_client) else "aiohttp"
    if client not in ("aiohttp", "httpx"):
        raise ValueError(f"client must be 'aiohttp' or 'httpx', not {client!r}")
    if client == "aiohttp" and (transport is not None or shared_client):
        raise ValueError("transport= and shared_client=True need client='httpx'")
    goal = duration
    if duration is None:  # a count alone is still bounded in time
        duration = MAX_DURATION

    samples: list[Sample] = []
    started = 0
    t0 = time.perf_counter()
    deadline = t0 + duration

    def report() -> None:
        if progress is not None:
            errors = sum(1 for s in samples if not s.ok)
            progress(Progress(len(samples), errors, time.perf_counter() - t0,
                              requests, goal))

    async def send_httpx(session: httpx.AsyncClient) -> int:
        response = await session.request(method, url, **request_kwargs)
        return response.status_code

    aiohttp_kwargs = dict(request_kwargs)
    if "content" in aiohttp_kwargs:  # httpx's name for a raw body
        aiohttp_kwargs["data"] = aiohttp_kwargs.pop("content")

    async def send_aiohttp(session: aiohttp.ClientSession) -> int:
        async with session.request(method, url, **aiohttp_kwargs) as response:
            await response.read()  # the whole body, as httpx reads it
            return response.status

    send: Callable[[Any], Any] = send_httpx if client == "httpx" else send_aiohttp

    async def worker(session: Any) -> None:
        nonlocal started
        while time.perf_counter() < deadline and (requests is None or started < requests):
            started += 1  # claimed before the first await: workers never overshoot the count
            begin = time.perf_counter()
            try:
                status, error = await send(session), None
            except Exception as exc:  # noqa: BLE001 - a failed request is data, not a crash
                status, error = None, _error_name(exc)
            samples.append(Sample(begin - t0, time.perf_counter() - begin, status, error))

    async def reporter() -> None:
        while True:
            await asyncio.sleep(progress_interval)
            report()

    async with contextlib.AsyncExitStack() as stack:
        if client == "aiohttp":
            connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency,
                                             force_close=False, enable_cleanup_closed=False)
            session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout))
            await stack.enter_async_context(session)
            clients = [session] * concurrency
        elif shared_client:
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            clients = [httpx.AsyncClient(limits=limits, timeout=timeout, transport=transport)] * concurrency
            await stack.enter_async_context(clients[0])
        else:
            # One TLS context for all (building one per client costs ~20 ms each); one connection each.
            tls = httpx.create_ssl_context()
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            clients = [httpx.AsyncClient(limits=one, timeout=timeout, transport=transport, verify=tls)
                       for _ in range(concurrency)]
            for client in clients:
                await stack.enter_async_context(client)
        ticker = asyncio.create_task(reporter()) if progress is not None else None
        try:
            t0 = time.perf_counter()
            deadline = t0 + duration
            await asyncio.gather(*(worker(client) for client in clients))
            elapsed = time.perf_counter() - t0
        finally:
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
    report()
    return LoadResult(label or urlsplit(url).path or "/", url, concurrency, elapsed, samples)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.load", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("-d", "--duration", type=float, default=None, help="seconds (default 5 without -n)")
    parser.add_argument("-n", "--requests", type=int, default=None)
    parser.add_argument("--label", default=None)
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default=None,
                        help="HTTP client (default aiohttp; httpx with --shared-client)")
    parser.add_argument("--shared-client", action="store_true", help="one httpx client for all workers")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None or args.requests else 5.0
    cpu = time.process_time()
    result = asyncio.run(run_load(args.url, concurrency=args.concurrency, duration=duration,
                                  requests=args.requests, label=args.label,
                                  shared_client=args.shared_client, client=args.client))
    cpu = time.process_time() - cpu
    # the generator's own CPU seconds during the run: near `duration_s` means it ran flat out
    print(json.dumps({**result.summary(), "client_cpu_s": round(cpu, 3)}) if args.json else result.table())
    return 0


if __name__ == "__main__":
    sys.exit(_main())
