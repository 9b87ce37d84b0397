"""grader.channel: a sealed check calls the learner's function across a socket and reaches the right verdict."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest

from apps import ROOT
from grader.channel import Peer
from labkit.checks import run_check

WRONG = {
    "greet": "def greet(name):\n    raise NotImplementedError()\n",
    "fetch_all": "async def fetch_all(fetch, ids):\n    return [await fetch(i) for i in ids]\n",
    "with_timeout": "async def with_timeout(fetch, i, seconds, default):\n    return default\n",
    "fastest": "async def fastest(fetchers):\n    return await fetchers[2]()\n",
}


def solutions() -> dict[str, Any]:
    """The solutions of lessons 00 and 01, defined in a namespace of their own."""
    ns: dict[str, Any] = {}
    for name in ("00_welcome.ipynb", "01_async_fundamentals.ipynb"):
        for cell in nbformat.read(ROOT / "solutions" / name, as_version=4).cells:
            if any(t.startswith("exercise:") for t in cell.metadata.get("tags", [])):
                exec("import asyncio\n" + cell.source, ns)
    return ns


@pytest.fixture
def across() -> Iterator[Any]:
    """``across(namespace)``: the namespace's functions as the grader's side of a channel sees them."""
    peers: list[Peer] = []

    def offer(ns: dict[str, Any]) -> dict[str, Any]:
        a, b = socket.socketpair()
        agent, grader = Peer(a, agent=True), Peer(b, agent=False)
        peers.extend([agent, grader])
        agent.send({"op": "hello", "names": {n: agent.encode(ns[n]) for n in WRONG}})
        return {n: grader.decode(v) for n, v in grader.hello.result(10)["names"].items()}

    yield offer
    for peer in peers:
        peer.close()
    for peer in peers:
        peer.join()
    assert not [t for t in threading.enumerate() if t.name.startswith("grader-channel")]


@pytest.mark.parametrize("ex_id", ["00.greet", "01.fetch_all", "01.with_timeout", "01.fastest"])
def test_solutions_pass_and_wrong_answers_fail_across_the_channel(across, ex_id):
    target = ex_id.split(".")[1]
    assert run_check(ex_id, across(solutions())).passed
    ns: dict[str, Any] = {}
    exec("import asyncio\n" + WRONG[target], ns)
    wrong = run_check(ex_id, across({**solutions(), target: ns[target]}))
    assert wrong.status == ("not attempted" if target == "greet" else "failed"), wrong


def test_an_exception_crosses_with_its_type_and_the_learners_line(across):
    ns: dict[str, Any] = {}
    exec(compile("def greet(name):\n    return name.nope()\n", "/tmp/ipykernel_1/2.py", "exec"), ns)
    result = run_check("00.greet", across({**solutions(), "greet": ns["greet"]}))
    assert result.status == "error" and "AttributeError" in result.message and "in `greet`" in result.message


def test_an_unsealed_verdict_counts_only_with_this_cells_signature() -> None:
    import hashlib
    import hmac

    from grader.notebook import read_verdict
    from labkit.checks import get_exercise

    ex = get_exercise("02.create_app")
    body = '{"id": "02.create_app", "status": "passed", "message": ""}'
    good = hmac.new(b"k" * 32, body.encode(), hashlib.sha256).hexdigest()
    forged = hmac.new(b"guess", body.encode(), hashlib.sha256).hexdigest()
    assert read_verdict(f"LABKIT-RESULT:{forged}:{body}\n", ex, "k" * 32) is None
    assert read_verdict(f"LABKIT-RESULT:{body}\n", ex, "k" * 32) is None, "an unsigned line (the old form) is refused"
    found = read_verdict(f"noise\nLABKIT-RESULT:{good}:{body}\nLABKIT-RESULT:{forged}:{body}\n", ex, "k" * 32)
    assert found is not None and found.status == "passed"


def _offer(ns: dict[str, Any], names: list[str]) -> tuple[dict[str, Any], list[Peer]]:
    a, b = socket.socketpair()
    agent, grader = Peer(a, agent=True), Peer(b, agent=False)
    agent.send({"op": "hello", "names": {n: agent.encode(ns[n]) for n in names}})
    return {n: grader.decode(v) for n, v in grader.hello.result(10)["names"].items()}, [agent, grader]


PERCENTILES = {
    "solution": "import math\n" + next(
        c.source for c in nbformat.read(ROOT / "solutions" / "09_performance_capstone.ipynb", as_version=4).cells
        if "exercise:09.percentiles" in c.metadata.get("tags", [])),
    "sorts_in_place": "import math\ndef percentiles(latencies, qs=(50, 95, 99)):\n    if not latencies:\n"
                      "        raise ValueError('none')\n    latencies.sort()\n"
                      "    return {f'p{q:g}': latencies[max(1, math.ceil(q / 100 * len(latencies))) - 1] for q in qs}\n",
}


@pytest.mark.parametrize("kind", ["solution", "sorts_in_place"])
def test_a_list_changed_in_place_by_the_learners_function_is_seen_by_the_check(kind):
    """09.percentiles is sealed: its check must still see a function that sorts the caller's list in place."""
    ns: dict[str, Any] = {}
    exec(PERCENTILES[kind], ns)
    offered, peers = _offer(ns, ["percentiles"])
    try:
        result = run_check("09.percentiles", offered)
    finally:
        for peer in peers:
            peer.close()
            peer.join()
    if kind == "solution":
        assert result.passed, result
    else:
        assert result.status == "failed" and "changed the list it was given" in result.message, result


def test_containers_come_back_refilled_in_place_and_nothing_else_changes():
    ns: dict[str, Any] = {}
    exec("def change(items, table, pair, n, *, tags):\n    items.append(4); items[0].append('x'); table['k'] = 2\n"
         "    pair[1].add(9); tags.clear(); n += 1\n    return n\n", ns)
    offered, peers = _offer(ns, ["change"])
    try:
        items, inner, table, pair, tags = [["a"], 2, 3], None, {"k": 1}, ("t", {1}), ["keep?"]
        inner = items[0]
        assert offered["change"](items, table, pair, 5, tags=tags) == 6
    finally:
        for peer in peers:
            peer.close()
            peer.join()
    assert items == [["a", "x"], 2, 3, 4] and items[0] is inner
    assert table == {"k": 2} and pair[1] == {1, 9} and tags == []
