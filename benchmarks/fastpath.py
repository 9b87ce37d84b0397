"""Which side sets the pace: the load generator against the floor, and uvicorn's fast path.

    python benchmarks/fastpath.py            # writes fastpath.md and fastpath.json next to this file
    python benchmarks/fastpath.py --quick    # a smoke run: short runs, one round
    python benchmarks/fastpath.py --out DIR

Two measurements, in one run, each load in a process of its own and the server in another:

1. **The load generator check.** ``python -m labkit.load`` (its default client, aiohttp), the same with
   ``--client httpx``, and ``rawload.py`` (bare asyncio sockets: the floor) load one standalone uvicorn
   process serving a trivial ``GET /ping`` at the same concurrency, alternating, for several rounds.
   Reported: requests/s, each generator's share of the raw-socket rate, and the CPU use of client and
   server. A side whose CPU use is near one core (100%) is the one that was saturated.
2. **uvicorn's fast path.** ``uvicorn bookshelf.main:app`` with ``--loop asyncio --http h11`` (what
   ``pip install uvicorn`` gives) and with ``--loop uvloop --http httptools`` (what ``uvicorn[standard]``
   adds), on ``/books/1``, ``/shelf`` and ``/health/loop``, loaded by the raw-socket generator so that the
   client stays cheap. Reported: requests/s and server CPU per request, and their ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import cpu_model, uvicorn_process  # noqa: E402


def uvicorn_server(target: str, *, fast: bool, env: dict[str, str] | None = None, app_dir: Path = HERE,
                   ready_path: str = "/ping") -> contextlib.AbstractContextManager[tuple[str, psutil.Process]]:
    return uvicorn_process(target, fast=fast, env=env, app_dir=app_dir, ready_path=ready_path,
                           extra=("--no-access-log",), wait=30.0)


def process_cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def run_generator(kind: str, url: str, concurrency: int, seconds: float, server: psutil.Process) -> dict[str, Any]:
    if kind == "raw sockets":
        cmd = [sys.executable, str(HERE / "rawload.py"), url, str(concurrency), str(seconds)]
    else:
        client = kind.split()[-1].strip("()")
        cmd = [sys.executable, "-m", "labkit.load", url, "-c", str(concurrency), "-d", str(seconds),
               "--client", client, "--json"]
    before = process_cpu(server)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=ROOT)
    server_s = process_cpu(server) - before
    if proc.returncode:
        raise RuntimeError(f"{kind} failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    if out.get("errors"):
        raise RuntimeError(f"{kind}: {out['errors']} errors")
    requests, duration = out["requests"], out["duration_s"]
    return {"generator": kind, "requests": requests, "requests_per_second": round(requests / duration, 1),
            "client_cpu_use": round(out["client_cpu_s"] / duration, 2),
            "server_cpu_use": round(server_s / duration, 2),
            "client_cpu_us_per_request": round(out["client_cpu_s"] / max(requests, 1) * 1e6, 1),
            "server_cpu_us_per_request": round(server_s / max(requests, 1) * 1e6, 1)}


GENERATORS = ("raw sockets", "labkit.load (aiohttp)", "labkit.load (httpx)")


def bench_generators(concurrency: int, seconds: float, rounds: int) -> list[dict[str, Any]]:
    rows = []
    with uvicorn_server("apps:app", fast=False) as (url, server):
        for r in range(rounds):
            order = GENERATORS if r % 2 == 0 else GENERATORS[::-1]
            for kind in order:
                rows.append({"round": r + 1, **run_generator(kind, url + "/ping", concurrency, seconds, server)})
    return rows


def fast_path_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("uvloop", "httptools"))


ENDPOINTS = ("/books/1", "/shelf", "/health/loop")


def bench_fast_path(concurrency: int, seconds: float, rounds: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for fast in ((False, True) if r % 2 == 0 else (True, False)):
                env = {"BOOKSHELF_DB": str(Path(tmp) / f"shelf-{int(fast)}-{r}.db")}
                with uvicorn_server("bookshelf.main:app", fast=fast, env=env, app_dir=ROOT,
                                    ready_path="/books/1") as (url, server):
                    for path in ENDPOINTS:
                        row = run_generator("raw sockets", url + path, concurrency, seconds, server)
                        rows.append({"round": r + 1, "server": "uvloop + httptools" if fast else "asyncio + h11",
                                     "endpoint": path, **row})
    return rows


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = ["# Which side sets the pace: the load generator, and uvicorn's fast path", "",
           ("QUICK smoke run: too short to quote. " if results["quick"] else "")
           + f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['os']}, Python {m['python']}; "
           f"load average at start {m['load_start']}, at end {m['load_end']}; {results['seconds']:.0f} s. "
           f"Packages: {', '.join(f'{k} {v}' for k, v in m['packages'].items())}.", "",
           "## 1. The load generator against the floor", "",
           f"`GET /ping` on standalone uvicorn (asyncio + h11, its own process), concurrency "
           f"{results['settings']['concurrency']}, {results['settings']['seconds']} s per run, generators alternating. "
           "CPU use: 100% = one core busy the whole run.", "",
           "| round | generator | req/s | share of raw sockets | client CPU use | server CPU use | client CPU µs/req | server CPU µs/req |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    gen = results["generators"]
    for row in gen:
        raw = next(g for g in gen if g["round"] == row["round"] and g["generator"] == "raw sockets")
        out.append(f"| {row['round']} | {row['generator']} | {row['requests_per_second']:.0f} | "
                   f"{row['requests_per_second'] / raw['requests_per_second']:.0%} | {row['client_cpu_use']:.0%} | "
                   f"{row['server_cpu_use']:.0%} | {row['client_cpu_us_per_request']:.0f} | "
                   f"{row['server_cpu_us_per_request']:.0f} |")
    out.append("")
    for kind in GENERATORS:
        rows = [g for g in gen if g["generator"] == kind]
        rps = statistics.median(g["requests_per_second"] for g in rows)
        raws = statistics.median(g["requests_per_second"] for g in gen if g["generator"] == "raw sockets")
        client = statistics.median(g["client_cpu_use"] for g in rows)
        server = statistics.median(g["server_cpu_use"] for g in rows)
        side = ("the server (one core busy)" if server >= 0.9 else
                "the load generator (one core busy)" if client >= 0.9 else
                "neither alone: both under one core (the two share two cores, plus the machine's other work)")
        out.append(f"- {kind}: median {rps:.0f} req/s, {rps / raws:.0%} of raw sockets; client CPU {client:.0%}, "
                   f"server CPU {server:.0%}: saturated side: {side}.")
    out += ["", "## 2. uvicorn's fast path on the Bookshelf app", ""]
    fast = results.get("fast_path")
    if not fast:
        out.append("Not measured: uvloop and httptools are not installed (`pip install 'uvicorn[standard]'`).")
        return "\n".join(out) + "\n"
    out += [f"`uvicorn bookshelf.main:app`, one process, loaded by the raw-socket generator at concurrency "
            f"{results['settings']['concurrency']} for {results['settings']['seconds']} s per endpoint, servers alternating.", "",
            "| endpoint | asyncio + h11 req/s | uvloop + httptools req/s | ratio | server CPU µs/req (h11) | server CPU µs/req (httptools) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for path in ENDPOINTS:
        def med(server: str, key: str) -> float:
            return statistics.median(r[key] for r in fast if r["endpoint"] == path and r["server"] == server)
        slow_rps, fast_rps = med("asyncio + h11", "requests_per_second"), med("uvloop + httptools", "requests_per_second")
        out.append(f"| `{path}` | {slow_rps:.0f} | {fast_rps:.0f} | {fast_rps / slow_rps:.2f}x | "
                   f"{med('asyncio + h11', 'server_cpu_us_per_request'):.0f} | "
                   f"{med('uvloop + httptools', 'server_cpu_us_per_request'):.0f} |")
    return "\n".join(out) + "\n"


def machine() -> dict[str, Any]:
    names = ["uvicorn", "aiohttp", "httpx", "h11", "httptools", "uvloop"]
    packages = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[name] = importlib.metadata.version(name)
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cores": os.cpu_count(),
            "cpu": cpu_model(), "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "packages": packages, "load_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    settings = {"concurrency": 50, "seconds": 0.5 if args.quick else 4.0, "rounds": 1 if args.quick else 3}
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "settings": settings, "machine": machine()}
    print("fastpath: load generators", flush=True)
    results["generators"] = bench_generators(settings["concurrency"], settings["seconds"], settings["rounds"])
    if fast_path_available():
        print("fastpath: uvicorn asyncio+h11 vs uvloop+httptools", flush=True)
        results["fast_path"] = bench_fast_path(settings["concurrency"], settings["seconds"], settings["rounds"])
    results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fastpath.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = render(results)
    (args.out / "fastpath.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
