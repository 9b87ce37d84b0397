"""The app's one HTTP client, built so that a timeout never leaves a pooled connection behind.

httpcore 1.0.9 (encode/httpcore#1093) loses a connection whenever a request leaves its pool between being
given a brand-new connection and using it: a cancellation from outside (``asyncio.timeout`` around
``client.get``), or its own pool timeout firing at that moment. The connection stays in the pool as
"connecting" forever, counts against ``max_connections``, and after enough faults no request gets one.

* ``PoolGuard`` lets at most ``max_connections`` requests into the pool at once, so the pool itself never
  makes a request wait; the waiting (bounded by the request's ``pool`` timeout) happens on our own
  ``asyncio.Semaphore``, where giving up is safe.
* ``TimedASGITransport`` gives in-process services (``httpx.ASGITransport``, which ignores timeouts) the
  same ``read`` timeout as a real connection; there is no pool to damage there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import httpx

__all__ = ["PoolGuard", "TimedASGITransport", "make_client"]


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives the guard's place back once the pool has the connection back."""

    def __init__(self, stream: httpx.AsyncByteStream, release: asyncio.Semaphore) -> None:
        self._stream = stream
        self._release: asyncio.Semaphore | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release.release()
                self._release = None


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    return dict(request.extensions.get("timeout", {}))


class PoolGuard(httpx.AsyncBaseTransport):
    """At most ``limit`` requests inside ``transport`` at once; the others wait here, up to their pool timeout."""

    def __init__(self, transport: httpx.AsyncBaseTransport, limit: int) -> None:
        self.transport = transport
        self.places = asyncio.Semaphore(limit)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = _timeouts(request)
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self.places.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection became free in time", request=request) from None
        try:
            # the pool never has to wait now: its own pool timeout could only race with a fresh connection
            request.extensions = {**request.extensions, "timeout": {**timeouts, "pool": None}}
            response = await self.transport.handle_async_request(request)
        except BaseException:
            self.places.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, self.places)
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


class TimedASGITransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that raises ``httpx.ReadTimeout`` after the request's read timeout."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            async with asyncio.timeout(_timeouts(request).get("read")):
                return await super().handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time", request=request) from None


def make_client(*, timeout: float, max_connections: int, max_keepalive_connections: int,
                mounts: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> httpx.AsyncClient:
    """The shared client: default timeouts, a guarded pool, and ``mounts`` (e.g. in-process services)."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive_connections,
                          keepalive_expiry=5.0)
    return httpx.AsyncClient(
        transport=PoolGuard(httpx.AsyncHTTPTransport(limits=limits), max_connections),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
        mounts=dict(mounts or {}),
    )
