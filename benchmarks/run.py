"""Measure the course's performance claims on this machine; write results.md and results.json.

    python benchmarks/run.py             # the full run (about 2 minutes on 2 cores)
    python benchmarks/run.py --quick     # a smoke run (seconds): same code paths, small sizes
    python benchmarks/run.py --out DIR   # write the results somewhere else

Four measurements, each described in results.md next to its table:

1. speedup of N concurrent async calls over N sequential calls (N = 10, 50, 200) to an endpoint
   that awaits 0.1 s: through real HTTP to ``labkit.serve`` and through ``httpx.ASGITransport``,
   with a plain asyncio socket client as a yardstick for the client's own overhead;
2. requests/s and latency percentiles of a trivial endpoint served by ``labkit.serve`` (a thread
   in this process) and by standalone uvicorn (its own process), loaded by ``labkit.load`` from a
   separate process at the same concurrency, alternating, in the same run;
3. the thread-pool staircase: 100 concurrent ``def`` endpoints that sleep 0.1 s, with anyio's
   default 40 tokens and with 10;
4. the same SQLite query under concurrent load: aiosqlite in ``async def`` vs sqlite3 in ``def``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import labkit  # noqa: E402
from apps import make_books_db, sqlite_app, staircase_app, trivial_app  # noqa: E402

PACKAGES = ["fastapi", "starlette", "uvicorn", "anyio", "httpx", "httpcore", "h11", "pydantic", "aiosqlite", "psutil"]
DELAY = 0.1
STAIR_ENDPOINTS = {"/block": "`def` with return type", "/block-plain": "`def`, `response_model=None`"}


# -- machine ---------------------------------------------------------------------------------
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    for name in ("uvloop", "httptools"):  # uvicorn would pick these up: say whether they are there
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# -- 1. speedup ------------------------------------------------------------------------------
def median_of(samples: list[float]) -> float:
    return statistics.median(samples)


def timed_sync(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


async def timed_async(fn: Callable[[], Awaitable[Any]]) -> float:
    t = time.perf_counter()
    await fn()
    return time.perf_counter() - t


def limits(n: int) -> httpx.Limits:
    return httpx.Limits(max_connections=n, max_keepalive_connections=n)


async def raw_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> int:
    """One HTTP/1.1 request on an open connection; returns the status (reads the body by Content-Length)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def raw_concurrent(host: str, port: int, path: str, n: int, warm: bool) -> float:
    """N requests on N connections with asyncio streams; ``warm`` opens the connections untimed."""
    async def one(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        if conn is None:
            conn = await asyncio.open_connection(host, port)
            try:
                assert await raw_get(*conn, host, path) == 200
            finally:
                conn[1].close()
        else:
            assert await raw_get(*conn, host, path) == 200

    if not warm:
        return await timed_async(lambda: asyncio.gather(*(one(None) for _ in range(n))))
    conns = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(n)))
    try:
        await asyncio.gather(*(raw_get(*c, host, "/ping") for c in conns))  # every connection used once
        return await timed_async(lambda: asyncio.gather(*(one(c) for c in conns)))
    finally:
        for _, writer in conns:
            writer.close()


def bench_speedup(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    app = trivial_app()
    rows: list[dict[str, Any]] = []
    with labkit.serve(app, name="bench-speedup") as server, uvicorn_process() as (uv_url, _):
        url, path = server.url, f"/slow?delay={DELAY}"
        uv_port = int(uv_url.rsplit(":", 1)[1])

        def sync_sequential(n: int) -> float:
            with httpx.Client(base_url=url) as client:
                client.get("/ping")  # connect untimed: the baseline pays one connection, not n
                return timed_sync(lambda: [client.get(path).raise_for_status() for _ in range(n)])

        async def httpx_concurrent(n: int, warm: bool) -> float:
            async with httpx.AsyncClient(base_url=url, limits=limits(n)) as client:
                async def batch(p: str) -> None:
                    for r in await asyncio.gather(*(client.get(p) for _ in range(n))):
                        r.raise_for_status()
                if warm:
                    await batch("/ping")  # opens n keep-alive connections untimed
                return await timed_async(lambda: batch(path))

        async def asgi_sequential(n: int) -> float:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
                return await timed_async(lambda: _sequential(c, path, n))

        async def asgi_concurrent(n: int) -> float:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
                await c.get("/ping")
                return await timed_async(lambda: asyncio.gather(*(c.get(path) for _ in range(n))))

        for n in sizes:
            print(f"  speedup N={n}", flush=True)
            http_seq = sync_sequential(n)
            asgi_seq = asyncio.run(asgi_sequential(n))
            variants: dict[str, list[float]] = {k: [] for k in (
                "http_cold", "http_warm", "raw_cold", "raw_warm", "raw_warm_uvicorn", "asgi")}
            # One run only: a client holding n idle connections costs the client O(n^2) work per request
            # (see results.md), several seconds at n=200.
            failures: dict[str, str] = {}
            try:
                variants["http_warm"].append(asyncio.run(httpx_concurrent(n, warm=True)))
            except httpx.HTTPError as exc:  # reported in results.md, not hidden
                failures["http_warm"] = f"{type(exc).__name__}: {exc}"
            for _ in range(repeat):  # interleaved, so a noisy moment hits every variant alike
                variants["http_cold"].append(asyncio.run(httpx_concurrent(n, warm=False)))
                variants["raw_cold"].append(asyncio.run(raw_concurrent(server.host, server.port, path, n, False)))
                variants["raw_warm"].append(asyncio.run(raw_concurrent(server.host, server.port, path, n, True)))
                variants["raw_warm_uvicorn"].append(asyncio.run(raw_concurrent("127.0.0.1", uv_port, path, n, True)))
                variants["asgi"].append(asyncio.run(asgi_concurrent(n)))
            for key, seq, label in (
                ("http_cold", http_seq, "real HTTP, httpx, new client (connects inside the timing)"),
                ("http_warm", http_seq, "real HTTP, httpx, client already connected"),
                ("raw_cold", http_seq, "real HTTP, plain asyncio sockets, connects inside the timing"),
                ("raw_warm", http_seq, "real HTTP, plain asyncio sockets, already connected"),
                ("raw_warm_uvicorn", http_seq, "same, to standalone uvicorn in its own process (not labkit.serve)"),
                ("asgi", asgi_seq, "httpx.ASGITransport (no server, no sockets)"),
            ):
                if not variants[key]:
                    rows.append({"n": n, "variant": key, "label": label, "sequential_s": round(seq, 4),
                                 "concurrent_s": None, "concurrent_runs_s": [], "speedup": None, "ideal": n,
                                 "efficiency": None, "overhead_ms": None, "failed": failures.get(key, "no run")})
                    continue
                conc = median_of(variants[key])
                rows.append({"n": n, "variant": key, "label": label, "sequential_s": round(seq, 4),
                             "concurrent_s": round(conc, 4), "concurrent_runs_s": [round(x, 4) for x in variants[key]],
                             "speedup": round(seq / conc, 2), "ideal": n,
                             "efficiency": round(seq / conc / n, 3),
                             "overhead_ms": round((conc - DELAY) * 1000, 1)})
    return rows


async def _sequential(client: httpx.AsyncClient, path: str, n: int) -> None:
    for _ in range(n):
        (await client.get(path)).raise_for_status()


# -- 2. labkit.serve vs uvicorn --------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def uvicorn_process(target: str = "apps:app", *, fast: bool = False, env: dict[str, str] | None = None,
                    app_dir: Path = HERE, ready_path: str = "/ping", extra: tuple[str, ...] = (),
                    wait: float = 20.0) -> Iterator[tuple[str, psutil.Process]]:
    """Standalone uvicorn serving ``target`` in its own process: asyncio + h11 (as labkit), or with
    ``fast=True`` uvloop + httptools (what ``uvicorn[standard]`` adds)."""
    port = free_port()
    loop, http = ("uvloop", "httptools") if fast else ("asyncio", "h11")
    cmd = [sys.executable, "-m", "uvicorn", target, "--app-dir", str(app_dir), "--host", "127.0.0.1",
           "--port", str(port), "--loop", loop, "--http", http, "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=None if env is None else {**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + ready_path, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {wait:g} s")
            time.sleep(0.05)
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) used so far by one thread of this process."""
    for t in psutil.Process().threads():
        if t.id == native_id:
            return t.user_time + t.system_time
    return 0.0


def load_from_subprocess(url: str, concurrency: int, duration: float, label: str,
                         server_cpu: Callable[[], float], shared_client: bool = False) -> dict[str, Any]:
    """Run ``python -m labkit.load`` in its own process; add the server's and the client's CPU use."""
    cmd = [sys.executable, "-m", "labkit.load", url, "-c", str(concurrency), "-d", str(duration),
           "--label", label, "--json"] + (["--shared-client"] if shared_client else [])
    before = server_cpu()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Block in run(): polling the child from this process would take the GIL from an in-process server.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    if proc.returncode:
        raise RuntimeError(f"load generator failed: {proc.stderr}")
    out = proc.stdout
    summary = json.loads(out)
    server_seconds = server_cpu() - before
    n = max(summary["requests"], 1)
    summary["server_cpu_us_per_request"] = round(server_seconds / n * 1e6, 1)
    summary["server_cpu_utilisation"] = round(server_seconds / summary["duration_s"], 2)
    summary["client_process_cpu_s"] = round(client_cpu, 2)  # includes its start-up (imports)
    summary["client_cpu_utilisation"] = round(summary["client_cpu_s"] / summary["duration_s"], 2)
    summary["client"] = "one shared client" if shared_client else "a client per worker"
    return summary


def bench_servers(concurrency: int, duration: float, rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with labkit.serve(trivial_app(), name="bench-inprocess") as inproc, uvicorn_process() as (uv_url, uv_proc):
        assert inproc._thread is not None and inproc._thread.native_id is not None
        inproc_id = inproc._thread.native_id

        def uv_cpu() -> float:
            t = uv_proc.cpu_times()
            return t.user + t.system

        targets = {"labkit.serve (thread in this process)": (inproc.url, lambda: thread_cpu(inproc_id)),
                   "uvicorn (its own process)": (uv_url, uv_cpu)}
        for name, (url, _) in targets.items():  # warm both up (imports, first connections)
            with httpx.Client() as c:
                for _ in range(20):
                    c.get(url + "/ping")
        for i in range(rounds):
            order = list(targets.items()) if i % 2 == 0 else list(reversed(targets.items()))
            for name, (url, cpu) in order:
                print(f"  servers round {i + 1}: {name}", flush=True)
                row = load_from_subprocess(url + "/ping", concurrency, duration, name, cpu)
                row["round"] = i + 1
                rows.append(row)
        # The same load with one shared httpx client: what the client's pool costs (see labkit.load).
        print("  servers: uvicorn, one shared client", flush=True)
        row = load_from_subprocess(uv_url + "/ping", concurrency, duration, "uvicorn (its own process)", uv_cpu,
                                   shared_client=True)
        row["round"] = "extra"
        rows.append(row)
    return rows


# -- 3. thread-pool staircase ----------------------------------------------------------------
def bench_staircase(tokens_list: list[int], n: int) -> list[dict[str, Any]]:
    rows = []
    for tokens in tokens_list:
        app = staircase_app(tokens)
        with labkit.serve(app, name=f"bench-staircase-{tokens}") as server:
            for path in ("/block", "/block-plain"):
                app.state.peak = 0

                async def run() -> tuple[float, list[float]]:
                    done: list[float] = []
                    # A new client: one that already holds n idle keep-alive connections is slow to hand
                    # them out (see the speedup section), which would blur the staircase.
                    async with httpx.AsyncClient(base_url=server.url, limits=limits(n), timeout=60) as client:
                        t0 = time.perf_counter()

                        async def one() -> None:
                            (await client.get(f"{path}?delay={DELAY}")).raise_for_status()
                            done.append(time.perf_counter() - t0)

                        await asyncio.gather(*(one() for _ in range(n)))
                        return time.perf_counter() - t0, done

                total, done = asyncio.run(run())
                bins = [0] * (int(max(done) / DELAY) + 1)
                for t in done:
                    bins[int(t / DELAY)] += 1
                rows.append({"tokens": tokens, "endpoint": path, "requests": n, "total_s": round(total, 3),
                             "peak_concurrent_calls": app.state.peak,
                             "ideal_s": round(-(-n // tokens) * DELAY, 2), "histogram_0.1s_bins": bins,
                             "completion_s": sorted(round(t, 4) for t in done)})
    return rows


# -- 4. aiosqlite vs sqlite3 -----------------------------------------------------------------
def bench_sqlite(concurrency: int, duration: float, tmp: Path) -> dict[str, Any]:
    db = tmp / "books.db"
    count = make_books_db(db)
    rows = []
    with labkit.serve(sqlite_app(db), name="bench-sqlite") as server:
        assert server._thread is not None and server._thread.native_id is not None
        with httpx.Client(base_url=server.url) as c:  # same answer both ways
            assert c.get("/aiosqlite").json() == c.get("/sqlite3").json()
        proc = psutil.Process()

        def process_cpu() -> float:  # the whole process: the pool and aiosqlite's threads count too
            t = proc.cpu_times()
            return t.user + t.system

        for path in ("/aiosqlite", "/sqlite3", "/aiosqlite", "/sqlite3"):
            print(f"  sqlite {path}", flush=True)
            label = "aiosqlite in async def" if path == "/aiosqlite" else "sqlite3 in def (thread pool)"
            row = load_from_subprocess(server.url + path, concurrency, duration, label, process_cpu)
            rows.append(row)
    return {"rows_in_table": count, "query": __import__("apps").QUERY, "results": rows}


# -- report ----------------------------------------------------------------------------------
def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    out = [
        "# Benchmark results",
        "",
        f"Generated by `python benchmarks/run.py{' --quick' if results['quick'] else ''}`"
        f"{' (QUICK smoke run: sizes too small to quote)' if results['quick'] else ''}. "
        "Wall-clock times; the raw numbers are in `results.json`.",
        "",
        md_table(["machine", ""], [
            ["date", m["date"]], ["CPU", m["cpu"]], ["cores", m["cores"]], ["OS", m["os"]],
            ["Python", m["python"]], ["packages", pk],
            ["load average at start / end", f"{m['load_average_at_start']} / {m.get('load_average_at_end')}"],
            ["run time", f"{results['seconds']:.0f} s"],
        ]),
        "",
        "## 1. N concurrent calls vs N sequential calls (endpoint awaits 0.1 s)",
        "",
        "Sequential: a sync `httpx.Client` (real HTTP) or awaiting one call after another (ASGITransport), "
        "one run. Concurrent: `asyncio.gather` of N calls, median of "
        f"{results['settings']['repeat']} runs (one run for the already-connected httpx client). "
        "Efficiency = speedup / N. "
        "*overhead* = concurrent time minus the 0.1 s every call waits anyway.",
        "",
        md_table(["N", "how", "sequential s", "concurrent s", "runs", "speedup", "efficiency", "overhead ms"],
                 [[r["n"], r["label"], f"{r['sequential_s']:.2f}", num(r["concurrent_s"], "{:.3f}"),
                   len(r["concurrent_runs_s"]), num(r["speedup"], "{:.1f}x"), pct(r), num(r["overhead_ms"], "{}")]
                  for r in results["speedup"]]),
        "",
    ]
    out += [f"- {line}" for line in speedup_findings(results["speedup"])]
    lab_cpu = [r["server_cpu_us_per_request"] for r in results["servers"]
               if r["round"] != "extra" and r["label"].startswith("labkit")]
    if lab_cpu:
        us = mean(lab_cpu)
        bounds = ", ".join(f"N={n}: {DELAY / (DELAY + n * us / 1e6):.0%}" for n in results["settings"]["sizes"])
        out.append(f"- The server's own share: it runs in one thread and spent about {us:.0f} µs of CPU per request "
                   f"in section 2, so N requests add roughly N x {us:.0f} µs to the 0.1 s wait whatever the client. "
                   f"Efficiency that leaves: {bounds} (an estimate; a burst may cost a little less per request).")
    rows = results["servers"]
    out += [
        "",
        "## 2. Trivial endpoint: labkit.serve in-process vs standalone uvicorn",
        "",
        f"`GET /ping` (`async def` returning a small dict), loaded by `python -m labkit.load` in a separate "
        f"process, concurrency {results['settings']['server_concurrency']}, "
        f"{results['settings']['server_duration']} s per run, the two servers alternating. Both use uvicorn "
        "with the asyncio loop and the h11 parser. *server CPU* is the CPU time the server's thread "
        "(labkit) or process (uvicorn) used per request.",
        "",
        md_table(["round", "server", "load generator", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms",
                  "server CPU µs/req", "server CPU use", "load generator CPU use"],
                 [[r["round"], r["label"], r["client"], r["requests"], r["errors"], f"{r['requests_per_second']:.0f}",
                   r["p50_ms"], r["p95_ms"], r["p99_ms"], r["server_cpu_us_per_request"],
                   f"{r['server_cpu_utilisation']:.0%}", f"{r['client_cpu_utilisation']:.0%}"] for r in rows]),
        "",
    ]
    out += [f"- {line}" for line in server_findings(rows)]
    out += [
        "",
        "## 3. Thread-pool staircase: 100 concurrent `def` endpoints that sleep 0.1 s",
        "",
        "Completions per 0.1 s after the requests were sent (a new client: connecting is inside the timing). FastAPI runs "
        "`def` endpoints in anyio's thread pool, which admits as many at once as the limiter has tokens.",
        "",
        md_table(["tokens", "endpoint", "requests", "peak calls at once", "total s", "ideal s",
                  "completions per 0.1 s"],
                 [[r["tokens"], STAIR_ENDPOINTS[r["endpoint"]], r["requests"], r["peak_concurrent_calls"],
                   f"{r['total_s']:.2f}",
                   f"{r['ideal_s']:.1f}", " ".join(str(b) for b in r["histogram_0.1s_bins"])]
                  for r in results["staircase"]]),
        "",
        *[f"- {line}" for line in staircase_findings(results["staircase"])],
        "",
        "## 4. The same SQLite query: aiosqlite in `async def` vs sqlite3 in `def`",
        "",
        f"`{results['sqlite']['query']}` over {results['sqlite']['rows_in_table']} books, loaded from a separate "
        f"process at concurrency {results['settings']['sqlite_concurrency']}, "
        f"{results['settings']['sqlite_duration']} s per run, alternating. *server CPU* here is the whole "
        "server process (thread pool and aiosqlite's thread included).",
        "",
        md_table(["endpoint", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU µs/req",
                  "load generator CPU use"],
                 [[r["label"], r["requests"], r["errors"], f"{r['requests_per_second']:.0f}", r["p50_ms"],
                   r["p95_ms"], r["p99_ms"], r["server_cpu_us_per_request"], f"{r['client_cpu_utilisation']:.0%}"]
                  for r in results["sqlite"]["results"]]),
        "",
    ]
    sq = results["sqlite"]["results"]
    for name in sorted({r["label"] for r in sq}):
        mine = [r for r in sq if r["label"] == name]
        out.append(f"- {name}: mean {mean([r['requests_per_second'] for r in mine]):.0f} req/s, "
                   f"p50 {mean([r['p50_ms'] for r in mine]):.1f} ms, p99 {mean([r['p99_ms'] for r in mine]):.1f} ms, "
                   f"server CPU {mean([r['server_cpu_us_per_request'] for r in mine]):.0f} µs per request.")
    out.append("")
    return "\n".join(out)


def num(value: float | None, fmt: str) -> str:
    return "failed" if value is None else fmt.format(value)


def pct(row: dict[str, Any]) -> str:
    return "failed" if row["efficiency"] is None else f"{row['efficiency']:.0%}"


def staircase_findings(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for tokens in sorted({r["tokens"] for r in rows}, reverse=True):
        by = {r["endpoint"]: r for r in rows if r["tokens"] == tokens}
        cut = by["/block"]["ideal_s"] - DELAY  # when all but the last wave of calls could be done
        early = {e: sum(1 for t in r["completion_s"] if t <= cut + DELAY / 2) for e, r in by.items()}
        lines.append(f"{tokens} tokens: {early['/block-plain']} of {by['/block-plain']['requests']} responses of the "
                     f"`response_model=None` endpoint had arrived after {cut + DELAY / 2:.2f} s, "
                     f"{early['/block']} of the endpoint with a return type.")
    lines.append("With a declared return type FastAPI also validates a `def` endpoint's response in the thread "
                 "pool (`fastapi.routing.serialize_response`), so each request queues twice for the same tokens "
                 "and the first calls' validations wait behind every call still queued. `response_model=None`, or "
                 "an `async def` endpoint, skips that second trip.")
    return lines


def speedup_findings(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for n in sorted({r["n"] for r in rows}):
        by = {r["variant"]: r for r in rows if r["n"] == n}
        lines.append(
            f"N={n}: real HTTP with httpx reached {pct(by['http_cold'])} of the ideal with a new "
            f"client and {pct(by['http_warm'])} with connections already open; plain asyncio "
            f"sockets {pct(by['raw_cold'])} / {pct(by['raw_warm'])}; ASGITransport {pct(by['asgi'])}.")
        for r in by.values():
            if r.get("failed"):
                lines.append(f"N={n}, {r['label']}: failed with `{r['failed']}`. uvicorn closes a keep-alive "
                             "connection after 5 s idle (`timeout_keep_alive`); a client whose pool takes longer "
                             "than that to hand its connections out sends requests into closed ones.")
    big = max(r["n"] for r in rows)
    by = {r["variant"]: r for r in rows if r["n"] == big}
    lines.append(
        f"What the N={big} calls cost beyond the 0.1 s wait: {num(by['http_cold']['overhead_ms'], '{:.0f}')} ms "
        f"with httpx (new client), {by['raw_cold']['overhead_ms']:.0f} ms with plain asyncio sockets over the same "
        f"connections-included path, {by['raw_warm']['overhead_ms']:.0f} ms with sockets already open, "
        f"{by['asgi']['overhead_ms']:.0f} ms without sockets. The same server answers all of them: the "
        "difference between httpx and plain sockets is client-side CPU work. With sockets already open, "
        f"standalone uvicorn in its own process took {by['raw_warm_uvicorn']['overhead_ms']:.0f} ms beyond the wait "
        f"({by['raw_warm_uvicorn']['efficiency']:.0%} of ideal), labkit.serve {by['raw_warm']['overhead_ms']:.0f} ms "
        f"({by['raw_warm']['efficiency']:.0%}).")
    return lines


def server_findings(all_rows: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in all_rows if r["round"] != "extra"]
    names = sorted({r["label"] for r in rows})
    rps = {name: mean([r["requests_per_second"] for r in rows if r["label"] == name]) for name in names}
    cpu = {name: mean([r["server_cpu_us_per_request"] for r in rows if r["label"] == name]) for name in names}
    lab = next(n for n in names if n.startswith("labkit"))
    uv = next(n for n in names if n.startswith("uvicorn"))
    util = mean([r["server_cpu_utilisation"] for r in rows])
    spread = {name: (min(r["requests_per_second"] for r in rows if r["label"] == name),
                     max(r["requests_per_second"] for r in rows if r["label"] == name)) for name in names}
    client = mean([r["client_cpu_utilisation"] for r in rows])
    lines = [f"mean over {len(rows) // 2} rounds: labkit.serve {rps[lab]:.0f} req/s (runs {spread[lab][0]:.0f}-"
             f"{spread[lab][1]:.0f}), uvicorn {rps[uv]:.0f} req/s (runs {spread[uv][0]:.0f}-{spread[uv][1]:.0f}): "
             f"labkit at {rps[lab] / rps[uv]:.0%} of standalone uvicorn. Server CPU per request "
             f"{cpu[lab]:.0f} µs vs {cpu[uv]:.0f} µs (labkit at {cpu[uv] / cpu[lab]:.0%} of uvicorn's efficiency).",
             f"The load generator's process was busy {client:.0%} of the run on average.",
            f"The servers were busy {util:.0%} of the time on average (1 core = 100%): "
            + ("the load generator, not the server, set the pace." if util < 0.8 else
               "the server was close to saturated.")]
    extra = [r for r in all_rows if r["round"] == "extra"]
    if extra:
        lines.append(f"One shared httpx client for all {extra[0]['concurrency']} workers instead of one each: "
                     f"{extra[0]['requests_per_second']:.0f} req/s against uvicorn, vs {rps[uv]:.0f}: "
                     "the client's connection pool bookkeeping becomes the limit.")
    return lines


def companions(folder: Path) -> str:
    """The reports of ``clients.py`` and ``fastpath.py`` found in ``folder``, as sections of results.md.

    They run on their own (each states its machine, date and load); results.md gathers them so that one
    page holds the client table, the load-generator check and uvicorn's fast path.
    """
    parts = []
    for number, name in ((5, "clients.md"), (6, "fastpath.md")):
        path = folder / name
        if path.exists():
            body = path.read_text(encoding="utf-8").splitlines()
            title = body[0].lstrip("# ").strip()
            rest = [("#" + line if line.startswith("## ") else line) for line in body[1:]]
            parts.append(f"\n## {number}. {title} (from `benchmarks/{name.replace('.md', '.py')}`)\n" + "\n".join(rest))
    return "\n".join(parts) + ("\n" if parts else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, short runs")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for results.md and results.json")
    args = parser.parse_args(argv)
    settings = dict(
        sizes=[10, 20] if args.quick else [10, 50, 200], repeat=1 if args.quick else 5,
        server_concurrency=20 if args.quick else 50, server_duration=0.5 if args.quick else 4.0,
        server_rounds=1 if args.quick else 4,
        staircase_tokens=[40, 10], staircase_requests=100,
        sqlite_concurrency=10 if args.quick else 20, sqlite_duration=0.5 if args.quick else 3.0,
    )
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "settings": settings, "machine": machine()}
    print("benchmark: speedup", flush=True)
    results["speedup"] = bench_speedup(settings["sizes"], settings["repeat"])
    print("benchmark: labkit.serve vs uvicorn", flush=True)
    results["servers"] = bench_servers(settings["server_concurrency"], settings["server_duration"],
                                       settings["server_rounds"])
    print("benchmark: thread-pool staircase", flush=True)
    results["staircase"] = bench_staircase(settings["staircase_tokens"], settings["staircase_requests"])
    print("benchmark: aiosqlite vs sqlite3", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = bench_sqlite(settings["sqlite_concurrency"], settings["sqlite_duration"], Path(tmp))
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("labkit-server")]
    if leftover or labkit.running_servers():
        raise RuntimeError(f"servers left running: {leftover}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text(render(results) + "\n" + companions(args.out), encoding="utf-8")
    print(render(results))
    print(f"\nwrote {args.out / 'results.md'} and {args.out / 'results.json'} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
