"""The floor for a load generator: closed-loop HTTP/1.1 GETs over bare asyncio sockets.

    python benchmarks/rawload.py URL CONCURRENCY SECONDS     # prints {"requests", "duration_s", "client_cpu_s"}

Each of CONCURRENCY workers opens one keep-alive connection and sends one request after another,
reading each response by its Content-Length. No HTTP library could do less work per request in
Python, so it is the yardstick that ``labkit.load`` is compared with (``benchmarks/fastpath.py``).
Only for benchmarks against a server that always sends Content-Length.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def load(url: str, concurrency: int, seconds: float) -> int:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\nHost: {host}\r\n\r\n"
    raw = request.encode()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                if status >= 400:
                    raise RuntimeError(f"{url} answered {status}")
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main(argv: list[str]) -> int:
    url, concurrency, seconds = argv[0], int(argv[1]), float(argv[2])
    cpu, t0 = time.process_time(), time.perf_counter()
    done = asyncio.run(load(url, concurrency, seconds))
    print(json.dumps({"requests": done, "duration_s": round(time.perf_counter() - t0, 4),
                      "client_cpu_s": round(time.process_time() - cpu, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
