"""labkit.load and its charts: counts, bounds, errors, percentiles, progress, concurrency limit."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import matplotlib
import pytest
from fastapi import FastAPI, Response

matplotlib.use("Agg")

import labkit  # noqa: E402
from labkit import load, plots  # noqa: E402
from labkit.load import LoadResult, Progress, Sample, percentile, run_load  # noqa: E402


def counting_app() -> tuple[FastAPI, dict[str, int]]:
    """An app that records how many requests it held at once."""
    app = FastAPI()
    state = {"in_flight": 0, "max_in_flight": 0, "calls": 0}

    @app.get("/wait")
    async def wait(delay: float = 0.01) -> dict[str, bool]:
        state["calls"] += 1
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            await asyncio.sleep(delay)
        finally:
            state["in_flight"] -= 1
        return {"ok": True}

    @app.get("/fail")
    async def fail() -> Response:
        return Response(status_code=503)

    return app, state


def asgi(app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


def test_nearest_rank_percentile():
    values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    assert percentile(values, 50) == 5
    assert percentile(values, 95) == 10 and percentile(values, 90) == 9
    assert percentile(values, 0) == 1 and percentile(values, 100) == 10
    assert percentile([0.2], 99) == 0.2
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_result_figures_come_from_the_samples():
    samples = [Sample(0.0, 0.01 * (i + 1), 200) for i in range(100)] + [Sample(0.0, 0.001, None, "ConnectError"),
                                                                        Sample(0.0, 0.002, 500)]
    r = LoadResult("demo", "http://127.0.0.1:1/x", 4, 2.0, samples)
    assert r.requests == 102 and r.errors == 2 and r.requests_per_second == 51
    # the fast failures are not counted as fast answers
    assert r.p50 == pytest.approx(0.50) and r.p95 == pytest.approx(0.95) and r.p99 == pytest.approx(0.99)
    assert r.status_counts == {"200": 100, "error": 1, "500": 1}
    summary = r.summary()
    assert json.loads(json.dumps(summary))["p95_ms"] == pytest.approx(950.0)
    table = r.table()
    assert "req/s" in table and "p99 ms" in table and "demo" in table and "990.0" in table


@pytest.mark.parametrize("shared_client", [False, True])
def test_a_request_count_is_exact_and_concurrency_is_held_at_the_limit(shared_client):
    app, state = counting_app()
    r = asyncio.run(run_load("http://app/wait", concurrency=5, requests=37, transport=asgi(app),
                             shared_client=shared_client))
    assert r.requests == 37 == state["calls"] and r.errors == 0
    assert state["max_in_flight"] == 5
    assert r.concurrency == 5 and r.label == "/wait"
    assert all(s.status == 200 and s.latency >= 0.009 for s in r.samples)


def test_a_duration_bounds_the_run():
    app, state = counting_app()
    r = asyncio.run(run_load("http://app/wait?delay=0.02", concurrency=3, duration=0.3, transport=asgi(app)))
    # workers stop starting requests at the deadline and finish the ones in flight
    assert 0.3 <= r.duration < 2.0
    assert 3 <= r.requests <= 3 * (0.3 / 0.02 + 1)
    assert max(s.start for s in r.samples) < 0.3


def test_errors_are_counted_not_raised():
    app, _ = counting_app()
    r = asyncio.run(run_load("http://app/fail", concurrency=2, requests=6, transport=asgi(app)))
    assert r.requests == 6 and r.errors == 6 and r.status_counts == {"503": 6}
    assert math.isnan(r.p50) and "-" in r.table()


def test_connection_refused_is_an_error_sample():
    server = labkit.serve(counting_app()[0], name="test-load-refused")
    url = server.url + "/wait"
    server.stop()
    for client in ("aiohttp", "httpx"):
        r = asyncio.run(run_load(url, concurrency=2, requests=4, timeout=2, client=client))
        assert r.requests == 4 and r.errors == 4
        assert {s.error for s in r.samples} == {"ConnectError"}, client


def test_a_slow_answer_is_a_read_timeout_with_either_client():
    with labkit.serve(counting_app()[0], name="test-load-timeout") as server:
        for client in ("aiohttp", "httpx"):
            r = asyncio.run(run_load(server.url + "/wait?delay=2", concurrency=2, requests=2, timeout=0.2,
                                     client=client))
            assert {s.error for s in r.samples} == {"ReadTimeout"}, client


def test_the_real_url_default_is_aiohttp_and_bodies_and_params_reach_the_app():
    app = FastAPI()
    seen: list[tuple[str, dict]] = []

    @app.post("/echo")
    async def echo(payload: dict, tag: str = "") -> dict:
        seen.append((tag, payload))
        return payload

    with labkit.serve(app, name="test-load-body") as server:
        r = asyncio.run(run_load(server.url + "/echo", method="POST", requests=3, json={"a": 1},
                                 params={"tag": "x"}, headers={"x-test": "1"}))
        assert r.errors == 0 and seen == [("x", {"a": 1})] * 3
        with pytest.raises(ValueError, match="client='httpx'"):
            asyncio.run(run_load(server.url + "/echo", requests=1, client="aiohttp", shared_client=True))


@pytest.mark.parametrize("url", ["http://example.com/", "http://10.0.0.1:8000/", "https://192.168.1.1/x"])
def test_only_this_machine_is_a_target(url):
    with pytest.raises(ValueError, match="only targets this machine"):
        asyncio.run(run_load(url, requests=1))


@pytest.mark.parametrize("kwargs", [{}, {"requests": 1, "concurrency": 0},
                                    {"requests": 1, "concurrency": load.MAX_CONCURRENCY + 1},
                                    {"duration": 0}, {"duration": load.MAX_DURATION + 1}, {"requests": 0}])
def test_runs_are_bounded(kwargs):
    with pytest.raises(ValueError):
        asyncio.run(run_load("http://127.0.0.1:9/", **kwargs))


def test_progress_is_reported_while_running_and_at_the_end():
    app, _ = counting_app()
    seen: list[Progress] = []
    r = asyncio.run(run_load("http://app/wait?delay=0.02", concurrency=2, requests=30, transport=asgi(app),
                             progress=seen.append, progress_interval=0.05))
    assert len(seen) >= 3
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert seen[-1].done == r.requests == 30 and seen[-1].fraction == 1.0
    assert seen[0].fraction < 1.0 and seen[-1].requests == 30 and seen[-1].duration is None
    timed = Progress(done=5, errors=0, elapsed=1.0, requests=None, duration=4.0)
    assert timed.fraction == 0.25


def test_real_http_and_the_command_line(app, capsys):
    with labkit.serve(app, name="test-load-http") as server:
        r = asyncio.run(run_load(server.url + "/ping", concurrency=4, requests=40))
        assert r.requests == 40 and r.errors == 0 and r.requests_per_second > 0
        shared = asyncio.run(run_load(server.url + "/ping", concurrency=4, requests=20, shared_client=True))
        assert shared.requests == 20 and shared.errors == 0
        assert load._main([server.url + "/ping", "-c", "2", "-n", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requests"] == 10 and out["errors"] == 0 and out["concurrency"] == 2


def test_load_charts_show_throughput_and_percentiles():
    import matplotlib.pyplot as plt

    runs = [LoadResult(name, "http://127.0.0.1:1/", c, 1.0, [Sample(0, 0.01 * k, 200) for k in range(1, 21)])
            for name, c in (("sync", 10), ("async", 10), ("async", 50))]
    fig = plots.load_charts(runs, title="demo")
    throughput, latency = fig.axes
    assert len(throughput.patches) == 3 and throughput.get_ylabel() == "requests per second"
    assert len(latency.patches) == 9
    assert [t.get_text() for t in latency.get_legend().get_texts()] == ["p50", "p95", "p99"]
    heights = sorted(p.get_height() for p in latency.patches)
    assert heights[-1] == pytest.approx(200.0)  # p99 of 10..200 ms
    plt.close(fig)
    fig = plots.plot(runs[0])
    assert len(fig.axes) == 2
    plt.close(fig)


def test_sweep_chart_draws_a_line_per_figure():
    import matplotlib.pyplot as plt

    runs = [LoadResult("c", "http://127.0.0.1:1/", c, 1.0, [Sample(0, 0.001 * c * k, 200) for k in range(1, 11)])
            for c in (1, 10, 50)]
    fig = plots.sweep_chart(runs, [1, 10, 50], "concurrency")
    throughput, latency = fig.axes
    assert len(throughput.lines) == 1 and list(throughput.lines[0].get_ydata()) == [10.0, 10.0, 10.0]
    assert len(latency.lines) == 3 and latency.get_xlabel() == "concurrency"
    assert list(latency.lines[2].get_ydata()) == pytest.approx([10.0, 100.0, 500.0])  # p99 = slowest of 10
    plt.close(fig)
    with pytest.raises(ValueError):
        plots.sweep_chart(runs, [1, 2], "x")
