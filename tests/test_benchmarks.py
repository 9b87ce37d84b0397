"""benchmarks/run.py --quick: the smoke run finishes and writes well-formed results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmark_writes_results(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    machine = results["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["python"] and machine["date"]
    assert {"fastapi", "uvicorn", "httpx", "anyio"} <= set(machine["packages"])

    speedup = results["speedup"]
    variants = {"http_cold", "http_warm", "raw_cold", "raw_warm", "raw_warm_uvicorn", "asgi"}
    for n in results["settings"]["sizes"]:
        rows = {r["variant"]: r for r in speedup if r["n"] == n}
        assert set(rows) == variants
        for r in rows.values():
            assert r["sequential_s"] >= n * 0.1 and r["concurrent_s"] >= 0.1
            assert r["speedup"] > 1 and abs(r["efficiency"] - r["speedup"] / n) < 0.01

    servers = results["servers"]
    assert {r["label"].split()[0] for r in servers} == {"labkit.serve", "uvicorn"}
    assert {r["client"] for r in servers} == {"a client per worker", "one shared client"}
    for r in servers + results["sqlite"]["results"]:
        assert r["requests"] > 0 and r["errors"] == 0 and r["requests_per_second"] > 0
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]

    stairs = {(r["tokens"], r["endpoint"]): r for r in results["staircase"]}
    assert set(stairs) == {(t, e) for t in (40, 10) for e in ("/block", "/block-plain")}
    for (tokens, _), r in stairs.items():
        assert sum(r["histogram_0.1s_bins"]) == r["requests"] == 100
        assert r["peak_concurrent_calls"] <= tokens
    for endpoint in ("/block", "/block-plain"):
        assert stairs[10, endpoint]["peak_concurrent_calls"] == 10  # the limiter, not the client, capped it
        assert stairs[10, endpoint]["total_s"] >= 1.0  # 100 calls of 0.1 s, ten at a time

    md = (tmp_path / "results.md").read_text()
    for heading in ("# Benchmark results", "## 1.", "## 2.", "## 3.", "## 4.", "| CPU |", "| Python |"):
        assert heading in md
    assert "QUICK" in md


def test_serve_start_smoke_run_writes_its_table(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serve_start.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "serve_start.md").read_text()
    assert "QUICK" in table and "load average" in table
    assert "| labkit.serve again under the same name |" in table and "| bare uvicorn: start |" in table


def test_fastpath_report_names_the_saturated_side():
    """benchmarks/fastpath.py: the rendering states each generator's share of the raw-socket rate and which side was busy."""
    import importlib

    saved = {name: sys.modules.pop(name) for name in ("apps", "run", "fastpath") if name in sys.modules}
    sys.path.insert(0, str(ROOT / "benchmarks"))  # benchmarks/apps.py, not tests/apps.py
    try:
        fastpath = importlib.import_module("fastpath")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        for name in ("apps", "run", "fastpath"):
            sys.modules.pop(name, None)
        sys.modules.update(saved)

    gen = [{"round": 1, "generator": g, "requests_per_second": rps, "client_cpu_use": c, "server_cpu_use": s,
            "client_cpu_us_per_request": 1, "server_cpu_us_per_request": 1, "requests": 1}
           for g, rps, c, s in [("raw sockets", 1000, 0.3, 0.95), ("labkit.load (aiohttp)", 950, 0.6, 0.93),
                                ("labkit.load (httpx)", 400, 0.99, 0.4)]]
    results = {"quick": False, "settings": {"concurrency": 50, "seconds": 4}, "seconds": 30, "generators": gen,
               "machine": {"date": "d", "cores": 2, "cpu": "c", "os": "o", "python": "3", "packages": {},
                           "load_start": [0], "load_end": [0]}}
    text = fastpath.render(results)
    assert "| 1 | labkit.load (aiohttp) | 950 | 95% |" in text and "| 1 | labkit.load (httpx) | 400 | 40% |" in text
    assert "labkit.load (aiohttp): median 950 req/s, 95% of raw sockets" in text
    assert "saturated side: the server" in text and "saturated side: the load generator" in text
    assert "Not measured: uvloop and httptools" in text


def test_rawload_counts_real_responses():
    import labkit
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    with labkit.serve(app, name="test-rawload") as server:
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rawload.py"), server.url + "/ping", "3", "0.3"],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["requests"] > 10 and out["duration_s"] >= 0.3
