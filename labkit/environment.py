"""Lesson 00's environment check: is everything the course needs installed, and does it work?

``report()`` returns one line per item, each ``ok`` or saying exactly what is wrong and how to fix it;
``check_environment()`` prints them. The last item starts a real server in the kernel and calls it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["Item", "pinned_versions", "report", "format_report", "check_environment"]

ROOT = Path(__file__).resolve().parent.parent
MIN_PYTHON = (3, 11)
NAME_WIDTH = 24  # the longest pinned name (jupyter-server-proxy, jupyterlab-widgets) fits; longer ones widen it
OK_MARK, BAD_MARK = "✓", "✗"  # text marks every font has: an emoji font is often missing on servers
FIX = "run `pip install -r requirements.txt` in the course folder, then restart the kernel"


@dataclass(frozen=True)
class Item:
    """One line of the report."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return self.line(max(NAME_WIDTH, len(self.name)))

    def line(self, width: int) -> str:
        """The item as one line, its name padded to ``width`` so the details line up."""
        return f"{OK_MARK if self.ok else BAD_MARK} {self.name:<{width}}  {self.detail}"


def pinned_versions(requirements: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """Exact pins (``name==version``) from the course's requirements file; empty if it is absent."""
    pins: dict[str, str] = {}
    if not requirements.exists():
        return pins
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _python_item() -> Item:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Item("python", False, f"{version} is too old: the course needs Python 3.11 or newer")
    return Item("python", True, version)


def _package_items(pins: dict[str, str]) -> list[Item]:
    items = []
    for name, wanted in sorted(pins.items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            items.append(Item(name, False, f"not installed (wanted {wanted}): {FIX}"))
            continue
        if have != wanted:
            items.append(Item(name, False, f"{have} installed, the course is tested with {wanted}: {FIX}"))
        else:
            items.append(Item(name, True, have))
    return items


def _server_item() -> Item:
    try:
        import httpx
        from fastapi import FastAPI

        from .serving import serve

        app = FastAPI()

        @app.get("/ping")
        async def ping() -> dict[str, str]:
            return {"pong": "ok"}

        with serve(app, name="labkit-environment-check") as server:
            answer = httpx.get(server.url + "/ping", timeout=5).json()
        if answer != {"pong": "ok"}:
            return Item("kernel server", False, f"unexpected answer {answer!r}")
        return Item("kernel server", True, "started an app in this kernel and called it")
    except Exception as exc:  # noqa: BLE001 - the report says what went wrong
        return Item("kernel server", False, f"could not serve an app here: {type(exc).__name__}: {exc}")


def report(pins: dict[str, str] | None = None) -> list[Item]:
    """Check Python, every pinned package, and a real in-kernel server round trip."""
    return [_python_item(), *_package_items(pinned_versions() if pins is None else pins), _server_item()]


def format_report(items: list[Item]) -> str:
    """The items as aligned lines: the name column is as wide as the longest name, whatever its length."""
    width = max((len(i.name) for i in items), default=0)
    return "\n".join(item.line(width) for item in items)


def check_environment() -> bool:
    """Print the report; True when everything is ok."""
    items = report()
    print(format_report(items))
    bad = [i for i in items if not i.ok]
    print("\nAll set: your environment is ready for the course." if not bad
          else f"\n{len(bad)} problem(s) above: fix them before lesson 01.")
    return not bad
