"""A long fault soak of the Bookshelf app: slow and failing upstreams over real HTTP, then recovery.

    python benchmarks/soak.py                  # 5 minutes of faults (the measurement in soak.md)
    python benchmarks/soak.py --seconds 20     # a quick look
    python benchmarks/soak.py --out DIR        # write soak.md / soak.json somewhere else

The app runs in this process with its simulated services in threads (``simulate="thread"``), the upstream
timeout at 0.3 s, and every service answering in 0.29 +- 0.03 s and failing 30% of the calls, so about
half of the calls time out, at every step of a request. The pool has 60 connections for the 90 calls
that 30 clients keep in flight, so calls also time out waiting for a connection. The 30 clients ask for ``/books/{id}/details``
without pause. Then the services recover and 30 more requests are made, 3 at a time. Recorded: the
client pool's connections by state, this process's sockets to the services by TCP state, open file
descriptors and RSS, before and after. ``tests/bookshelf/test_bookshelf_soak.py`` is the 8-second version.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import sys
import time
from pathlib import Path

import httpx
import psutil
from asgi_lifespan import LifespanManager

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bookshelf import Behaviour, Settings, create_app  # noqa: E402

TIMEOUT = 0.3
FAULTY = Behaviour(latency=TIMEOUT - 0.01, jitter=0.03, failure_rate=0.3)
HEALTHY = Behaviour(latency=0.01, jitter=0.0)


def snapshot(upstream_client: httpx.AsyncClient, ports: set[int]) -> dict[str, object]:
    """Pool states, sockets to the services by TCP state, open files and RSS of this process."""
    process = psutil.Process()
    pool = upstream_client._transport.transport._pool  # type: ignore[attr-defined]  # inside the PoolGuard
    states = collections.Counter(c.info().split(", ")[-2] if ", " in c.info() else c.info()
                                 for c in pool.connections)
    sockets = collections.Counter(c.status for c in process.net_connections(kind="tcp")
                                  if c.raddr and c.raddr.port in ports)
    return {"pool": dict(states), "sockets_to_services": dict(sockets), "open_fds": process.num_fds(),
            "rss_mib": round(process.memory_info().rss / 2**20, 1)}


async def soak(seconds: float) -> dict[str, object]:
    """Run the fault period and the recovery; return the measurements."""
    settings = Settings.ephemeral(simulate="thread", upstream_timeout=TIMEOUT, max_connections=60,
                                  max_keepalive_connections=60).with_behaviour(
        ratings=FAULTY, prices=FAULTY, covers=FAULTY)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=20, shutdown_timeout=20):
        upstream_client = app.state.upstreams.client
        ports = {int(url.rsplit(":", 1)[1]) for url in app.state.upstreams.urls.values()}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bookshelf") as client:
            await client.get("/books/1/details")
            before = snapshot(upstream_client, ports)
            codes: collections.Counter[int] = collections.Counter()
            degraded_calls = 0
            end = time.monotonic() + seconds
            counter = iter(range(10**9))

            async def loop() -> None:
                nonlocal degraded_calls
                while time.monotonic() < end:
                    response = await client.get(f"/books/{next(counter) % 500 + 1}/details")
                    codes[response.status_code] += 1
                    if response.status_code == 200:
                        degraded_calls += len(response.json()["degraded"])

            await asyncio.gather(*(loop() for _ in range(30)))
            during = snapshot(upstream_client, ports)
            for upstream in app.state.upstream_apps.values():
                upstream.state.behaviour = HEALTHY
            await asyncio.sleep(TIMEOUT + 0.5)
            still_degraded = 0
            for first in range(1, 31, 3):
                answers = await asyncio.gather(*(client.get(f"/books/{i}/details") for i in range(first, first + 3)))
                still_degraded += sum(1 for a in answers if a.json()["degraded"])
            after = snapshot(upstream_client, ports)
    requests = sum(codes.values())
    return {"seconds": seconds, "requests": requests, "status_codes": dict(codes),
            "degraded_upstream_calls": degraded_calls, "upstream_calls": 3 * requests,
            "degraded_after_recovery": f"{still_degraded} of 30", "before": before, "end_of_faults": during,
            "after_recovery": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    result = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "httpx": httpx.__version__, **asyncio.run(soak(args.seconds))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {name} | {result[key]['pool']} | {result[key]['sockets_to_services']} | "
                     f"{result[key]['open_fds']} | {result[key]['rss_mib']} |"
                     for name, key in (("before", "before"), ("end of the faults", "end_of_faults"),
                                       ("after recovery", "after_recovery")))
    (args.out / "soak.md").write_text(f"""# Fault soak ({result['when']}, httpx {result['httpx']})

`python benchmarks/soak.py --seconds {args.seconds:g}`: {result['requests']} requests to `/books/{{id}}/details` in
{args.seconds:g} s, status codes {result['status_codes']}; {result['degraded_upstream_calls']} of
{result['upstream_calls']} upstream calls degraded (timeouts and simulated failures). After recovery:
{result['degraded_after_recovery']} requests still degraded.

| when | client pool (connections by state) | sockets to the services | open fds | RSS (MiB) |
| --- | --- | --- | --- | --- |
{rows}

Done when the pool holds no ACTIVE or CONNECTING connection after recovery, no socket is in CLOSE_WAIT,
and open files and memory do not grow with the length of the soak.
""")
    print((args.out / "soak.md").read_text())


if __name__ == "__main__":
    main()
