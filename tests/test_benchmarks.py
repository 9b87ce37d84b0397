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
