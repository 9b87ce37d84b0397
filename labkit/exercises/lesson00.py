"""Lesson 00 (Welcome): a warm-up exercise that shows how exercises and self-checks work."""

from __future__ import annotations

from collections.abc import Callable

from ..checks import exercise, expect, same


@exercise("00.greet", target="greet", points=1, timeout=5, sealed=True)
def check_greet(greet: Callable[[str], str]) -> None:
    """`greet(name)` returns 'Hello, <name>!' for any name."""
    for name in ("Ada", "Grace", "async world"):
        got = greet(name)
        expect(isinstance(got, str), f"greet({name!r}) should return a string, got {type(got).__name__}")
        expect(same(got, f"Hello, {name}!"), f"greet({name!r}) returned {got!r}; expected {f'Hello, {name}!'!r}")
