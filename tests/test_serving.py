"""labkit.serving: threaded and on-loop servers start fast, answer, and stop without leaks."""

from __future__ import annotations

import asyncio
import socket
import statistics
import threading
import time

import httpx
import psutil
import pytest

import labkit
from apps import labkit_threads, make_app, open_fds


def port_is_listening(port: int) -> bool:
    """Whether a socket of this process listens on ``port``: once freed, the port may go to another
    process at once (a parallel test worker, a kernel), so connecting to it would prove nothing."""
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
               for c in psutil.Process().net_connections(kind="tcp"))


def test_sync_and_async_clients_against_thread_server(app):
    with labkit.serve(app, name="t-basic") as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.running
        assert httpx.get(server.url + "/ping").json() == {"pong": "ok"}

        async def call() -> dict:
            async with httpx.AsyncClient(base_url=server.url) as client:
                return (await client.get("/slow", params={"delay": 0.01})).json()

        assert asyncio.run(call()) == {"slept": 0.01}
    assert not server.running
    assert not port_is_listening(server.port)


def test_start_and_stop_are_fast(app):
    t0 = time.perf_counter()
    server = labkit.serve(app, name="t-fast")
    started = time.perf_counter() - t0
    t0 = time.perf_counter()
    server.stop()
    stopped = time.perf_counter() - t0
    assert started < 0.5, f"start took {started:.3f} s"
    assert stopped < 0.5, f"stop took {stopped:.3f} s"


def test_fifty_cycles_leak_no_thread_fd_or_port(app):
    httpx.get  # import side effects done before counting
    before_fds, before_threads = open_fds(), len(labkit_threads())
    ports = []
    for _ in range(50):
        server = labkit.serve(app, name="t-cycle")
        assert httpx.get(server.url + "/ping").status_code == 200
        ports.append(server.port)
        server.stop()
    time.sleep(0.05)
    assert len(labkit_threads()) == before_threads
    assert open_fds() <= before_fds + 2, f"fds grew from {before_fds} to {open_fds()}"
    assert not any(port_is_listening(p) for p in set(ports))


def test_reserving_a_name_stops_the_previous_server(app):
    first = labkit.serve(app, name="t-rerun")
    second = labkit.serve(app, name="t-rerun")
    try:
        assert not first.running
        assert first._sock.fileno() == -1   # its listening socket is closed (the port now serves `second`)
        assert second.running
        assert [s for s in labkit.running_servers() if s.name == "t-rerun"] == [second]
    finally:
        second.stop()
    assert len(labkit_threads()) == 0


def test_reserving_a_name_reuses_its_port_when_free(app):
    first = labkit.serve(app, name="t-same-port")
    port = first.port
    second = labkit.serve(app, name="t-same-port")
    try:
        assert second.port == port
        assert httpx.get(second.url + "/ping").status_code == 200
    finally:
        second.stop()
    with socket.socket() as squatter:  # someone else took the port meanwhile: a new one, no error
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with labkit.serve(app, name="t-same-port") as third:
            assert third.port != port
            assert httpx.get(third.url + "/ping").status_code == 200


def test_two_servers_at_once_on_different_ports():
    with labkit.serve(make_app(), name="t-a") as a, labkit.serve(make_app(), name="t-b") as b:
        assert a.port != b.port
        assert httpx.get(a.url + "/ping").status_code == 200
        assert httpx.get(b.url + "/ping").status_code == 200


def test_busy_port_gives_a_clear_message(app):
    with labkit.serve(app, name="t-busy") as server:
        with pytest.raises(OSError, match="port .* is in use"):
            labkit.serve(make_app(), name="t-busy-2", port=server.port)


def test_failing_startup_is_reported():
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(app):
        raise RuntimeError("database unreachable")
        yield

    with pytest.raises(RuntimeError, match="failed to start"):
        labkit.serve(FastAPI(lifespan=lifespan), name="t-broken")
    assert labkit_threads() == []


def test_responses_have_no_nagle_delay(app):
    with labkit.serve(app, name="t-nodelay") as server, httpx.Client(base_url=server.url) as client:
        client.get("/ping")
        times = []
        for _ in range(21):
            t0 = time.perf_counter()
            client.get("/ping")
            times.append(time.perf_counter() - t0)
        per_request = sorted(times)[10]
    # With Nagle + delayed ACK every keep-alive request waits ~40 ms; without it, about 1 ms. The median
    # ignores the few requests a busy machine delays, which Nagle never would spare.
    assert per_request < 0.02, f"median {per_request * 1000:.1f} ms per request"


def test_on_loop_server_answers_async_clients_and_stops():
    async def scenario() -> None:
        server = await labkit.serve_on_loop(make_app(), name="t-loop")
        assert server.mode == "loop" and server.running
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/ping")).json() == {"pong": "ok"}
        with pytest.raises(RuntimeError, match="astop"):
            server.stop()
        await server.astop()
        assert not server.running
        assert not port_is_listening(server.port)

    asyncio.run(scenario())


def test_on_loop_server_cannot_answer_a_blocking_client_on_its_own_thread():
    async def scenario() -> type[BaseException] | None:
        server = await labkit.serve_on_loop(make_app(), name="t-deadlock")
        try:
            httpx.get(server.url + "/ping", timeout=0.5)
        except httpx.TimeoutException as exc:
            return type(exc)
        finally:
            await server.astop()
        return None

    assert asyncio.run(scenario()) is not None


def test_concurrent_requests_overlap_on_thread_server(app):
    async def fire(n: int, url: str) -> float:
        async with httpx.AsyncClient(base_url=url) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(client.get("/slow", params={"delay": 0.2}) for _ in range(n)))
            return time.perf_counter() - t0

    with labkit.serve(app, name="t-overlap") as server:
        elapsed = asyncio.run(fire(10, server.url))
    # Sequentially this is 2 s; overlapped it is ~0.2 s. Generous bound for a busy machine.
    assert elapsed < 1.0, f"10 concurrent 0.2 s requests took {elapsed:.2f} s"


def test_public_url_uses_the_hub_proxy(monkeypatch):
    from labkit.serving import public_url

    assert public_url(8123, "/docs") == "http://127.0.0.1:8123/docs"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert public_url(8123, "/docs") == "/user/ada/proxy/8123/docs"


def test_starting_and_restarting_under_a_name_are_quick(app):
    fresh, again = [], []
    for i in range(5):
        t0 = time.perf_counter()
        server = labkit.serve(app, name=f"t-quick-{i}")
        fresh.append(time.perf_counter() - t0)
        server.stop()
    server = labkit.serve(app, name="t-quick")
    try:
        for _ in range(5):
            t0 = time.perf_counter()
            server = labkit.serve(app, name="t-quick")  # stops the previous server first, as a re-run cell does
            again.append(time.perf_counter() - t0)
            assert httpx.get(server.url + "/ping").status_code == 200
    finally:
        server.stop()
    # ~3 ms and ~8 ms on an idle 2-core machine. Plain uvicorn cannot stop in under 0.1 s (it sleeps a fixed
    # 0.1 s in its shutdown, after a tick of up to 0.1 s), so the second bound is what separates the two.
    assert statistics.median(fresh) < 0.25, f"starts took {[round(t, 3) for t in fresh]} s"
    assert statistics.median(again) < 0.1, f"restarts took {[round(t, 3) for t in again]} s"
    assert labkit_threads() == []


def test_stop_lets_a_request_in_flight_finish_and_closes_idle_keepalive_connections(app):
    server = labkit.serve(app, name="t-graceful")
    with httpx.Client(base_url=server.url) as idle, httpx.Client(base_url=server.url) as busy:
        assert idle.get("/ping").status_code == 200  # now holds an idle keep-alive connection
        result: dict[str, object] = {}

        def slow_call() -> None:
            result["response"] = busy.get("/slow", params={"delay": 0.3}).json()

        caller = threading.Thread(target=slow_call)
        caller.start()
        time.sleep(0.1)  # the request is being served (it waits 0.3 s inside the app)
        t0 = time.perf_counter()
        server.stop()
        took = time.perf_counter() - t0
        caller.join(5)
    assert result.get("response") == {"slept": 0.3}, "the request in flight was cut off"
    assert took < 1.0, f"stop took {took:.2f} s"  # ~0.2 s: the rest of the request; idle connections close at once
    assert not port_is_listening(server.port)
    assert labkit_threads() == []
