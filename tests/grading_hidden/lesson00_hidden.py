"""Hidden checks for lesson 00: an example of what an instructor keeps out of the learners' copy."""

from __future__ import annotations

from collections.abc import Callable

from labkit.checks import exercise, expect


@exercise("00.greet:unicode", target="greet", points=1, timeout=5, sealed=True)
def check_greet_unicode(greet: Callable[[str], str]) -> None:
    """Names outside ASCII are greeted unchanged."""
    for name in ("Zoë", "Łukasz"):
        got = greet(name)
        expect(got == f"Hello, {name}!", f"greet({name!r}) returned {got!r}; expected {f'Hello, {name}!'!r}")
