"""Small apps and probes shared by labkit's own tests."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def make_app() -> FastAPI:
    """A tiny app with a fast endpoint, a slow async one and a blocking def one."""
    import asyncio
    import time

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "ok"}

    @app.get("/slow")
    async def slow(delay: float = 0.1) -> dict[str, float]:
        await asyncio.sleep(delay)
        return {"slept": delay}

    @app.get("/blocking")
    def blocking(delay: float = 0.1) -> dict[str, float]:
        time.sleep(delay)
        return {"slept": delay}

    return app


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def labkit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("labkit-server")]
