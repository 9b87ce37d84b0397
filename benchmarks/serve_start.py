"""How long ``labkit.serve`` takes to start, restart and stop, next to a bare uvicorn thread.

    python benchmarks/serve_start.py            # 21 repeats of each; writes serve_start.md next to this file
    python benchmarks/serve_start.py --quick    # 3 repeats (smoke run)
    python benchmarks/serve_start.py --out DIR  # write serve_start.md somewhere else

The aim is a ``serve()`` that returns in under 50 ms, restarts included: re-running a cell that serves
under the same name stops the previous server first, so a slow stop is a slow start.

* **bare uvicorn**: ``uvicorn.Server(...).run(sockets=[...])`` in a daemon thread, waiting for ``started``;
  stopped with ``should_exit`` and ``join`` (what uvicorn does on its own).
* **labkit.serve, first in a process**: the first ``serve()`` in a fresh interpreter, after the imports a
  lesson's Setup cell does; it includes uvicorn's one-off lazy imports (HTTP protocol, lifespan).
* **labkit.serve**: a new name each time; **again under the same name**: the previous server is stopped first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
AIM_S = 0.050

FIRST_START = """
import time, labkit, fastapi
app = fastapi.FastAPI()
t0 = time.perf_counter()
server = labkit.serve(app)
print(time.perf_counter() - t0)
server.stop()
"""


def make_app():  # noqa: ANN201 - a FastAPI app; imported lazily so --help stays fast
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "ok"}

    return app


def bare_uvicorn(app) -> tuple[float, float]:  # noqa: ANN001
    """Start and stop a plain uvicorn server in a thread; return (start, stop) seconds."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    t0 = time.perf_counter()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level=None, loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("bare uvicorn failed to start")
        time.sleep(0.002)
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    server.should_exit = True
    thread.join(10)
    stopped = time.perf_counter() - t0
    sock.close()
    return started, stopped


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def first_start_in_fresh_process() -> float:
    done = subprocess.run([sys.executable, "-c", FIRST_START], capture_output=True, text=True, timeout=120,
                          check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure(repeat: int) -> dict[str, dict[str, float]]:
    import labkit

    app = make_app()
    bare_uvicorn(app)  # warm up: uvicorn's lazy imports happen once per process
    rows: dict[str, list[float]] = {k: [] for k in (
        "bare uvicorn: start", "bare uvicorn: stop", "labkit.serve, first in a process",
        "labkit.serve: start", "labkit.serve: stop", "labkit.serve again under the same name")}
    for i in range(repeat):
        start, stop = bare_uvicorn(app)
        rows["bare uvicorn: start"].append(start)
        rows["bare uvicorn: stop"].append(stop)
        holder: list[labkit.RunningServer] = []
        rows["labkit.serve: start"].append(timed(lambda: holder.append(labkit.serve(app, name=f"fresh-{i}"))))
        rows["labkit.serve: stop"].append(timed(holder[0].stop))
    server = labkit.serve(app, name="again")
    for _ in range(repeat):
        rows["labkit.serve again under the same name"].append(timed(lambda: labkit.serve(app, name="again")))
    labkit.stop_all()
    for _ in range(max(3, repeat // 4)):
        rows["labkit.serve, first in a process"].append(first_start_in_fresh_process())
    assert not labkit.running_servers() and not server.running
    return {k: {"median_ms": statistics.median(v) * 1000, "max_ms": max(v) * 1000, "runs": len(v)}
            for k, v in rows.items()}


def render(results: dict[str, dict[str, float]], load: tuple[tuple[float, ...], tuple[float, ...]],
           quick: bool) -> str:
    lines = ["# labkit.serve start-up", "",
             f"{'QUICK smoke run: too few repeats to quote. ' if quick else ''}"
             f"Measured {dt.date.today().isoformat()} on {os.cpu_count()} cores, {platform.system()}, "
             f"Python {platform.python_version()}; load average at start {load[0]}, at end {load[1]}. "
             f"Aim: under {AIM_S * 1000:.0f} ms.", "",
             "| what | median | max | runs |", "| --- | --- | --- | --- |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['median_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['runs']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats: a smoke run")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for serve_start.md")
    args = parser.parse_args(argv)
    load_start = tuple(round(x, 2) for x in os.getloadavg())
    results = measure(3 if args.quick else 21)
    text = render(results, (load_start, tuple(round(x, 2) for x in os.getloadavg())), args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_start.md").write_text(text, encoding="utf-8")
    print(text)
    slowest = max(results[k]["median_ms"] for k in results if k.startswith("labkit.serve"))
    return 0 if args.quick or slowest < AIM_S * 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
