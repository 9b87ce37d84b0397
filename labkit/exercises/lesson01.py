"""Lesson 01 (Async fundamentals): run awaits concurrently, time out, and cancel what is not needed.

Every check hands the learner's function instrumented async callables that record what happened to
them (how many calls were in flight at once, whether a call saw its cancellation and ran its
``finally``), so the verdicts rest on behaviour, not on wall-clock luck. Sleeps only order events,
with wide gaps between them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ..checks import CheckFailed, exercise, expect, same

__all__ = ["check_fetch_all", "check_with_timeout", "check_fastest"]

# How long a check waits for the learner's coroutine before it reports, in words, what it waited on.
_PATIENCE = 10.0


def _describe(value: Any) -> str:
    """A short description of a value for a message; points at un-awaited coroutines and tasks."""
    if inspect.iscoroutine(value):
        return "a coroutine object (it was never awaited: add `await`)"
    if isinstance(value, asyncio.Future):
        return "a Task/Future (await it to get its result)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _close_coroutines(values: Any) -> None:
    """Close coroutine objects a wrong answer returned, so no 'never awaited' warning follows."""
    items = values if isinstance(values, (list, tuple)) else [values]
    for item in items:
        if inspect.iscoroutine(item):
            item.close()


async def _call(name: str, make: Callable[[], Any], waiting_on: str,
                observe: Callable[[], Any] | None = None) -> Any:
    """Await the learner's call with a deadline; say what was still running if it never returns.

    ``observe()``, if given, runs the moment the learner's coroutine returns (before the loop can run
    anything else); the result is then ``(value, observation)``.
    """
    result = make()
    expect(inspect.isawaitable(result),
           f"`{name}` returned {_describe(result)} without being awaited: define it with `async def` "
           f"so callers can `await` it")

    async def run() -> Any:
        value = await result
        return (value, observe()) if observe is not None else value

    try:
        return await asyncio.wait_for(run(), _PATIENCE)
    except asyncio.TimeoutError:
        raise CheckFailed(f"`{name}` had not returned after {_PATIENCE:g} s; {waiting_on}") from None
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the check itself is being stopped: never swallow that
        raise CheckFailed(f"`{name}` raised CancelledError: awaiting a task you cancelled re-raises its "
                          f"cancellation; catch it there, or use "
                          f"`asyncio.gather(*tasks, return_exceptions=True)`") from None


# -- 01.fetch_all --------------------------------------------------------------------------------

@exercise("01.fetch_all", target="fetch_all", points=2, timeout=30, sealed=True)
async def check_fetch_all(fetch_all: Callable[..., Awaitable[Any]]) -> None:
    """`await fetch_all(fetch, ids)` runs every `fetch(i)` at once; results follow the order of `ids`."""
    ids = [7, 3, 9, 1, 5]
    # The first id answers last, the last id first: a list in finishing order is visibly wrong.
    delays = {i: 0.03 * (len(ids) - pos) for pos, i in enumerate(ids)}
    in_flight = 0
    peak = 0
    calls: list[Any] = []

    async def fetch(i: Any) -> str:
        nonlocal in_flight, peak
        calls.append(i)
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(delays.get(i, 0.01))
        finally:
            in_flight -= 1
        return f"item-{i}"

    results = await _call("fetch_all", lambda: fetch_all(fetch, list(ids)),
                          "each of its calls takes at most 0.15 s: is something awaiting forever?")
    try:
        expect(isinstance(results, (list, tuple)),
               f"fetch_all returned {_describe(results)}; it should return a list with one result per id")
        results = list(results)
        stray = [r for r in results if inspect.iscoroutine(r) or isinstance(r, asyncio.Future)]
        expect(not stray, f"the list holds {_describe(stray[0]) if stray else ''}: return the values the "
                          f"calls produced, e.g. what `await asyncio.gather(...)` gives you")
    finally:
        _close_coroutines(results)
    expect(sorted(calls) == sorted(ids),
           f"fetch was called with {calls}; it should be called once for each id in {ids}")
    expect(len(results) == len(ids), f"fetch_all returned {len(results)} result(s) for {len(ids)} ids")
    expect(peak > 1, "only 1 call was in flight at a time: you awaited each call before starting the next. "
                     "Start them all first (asyncio.gather or asyncio.create_task), then wait for them")
    expect(peak == len(ids), f"at most {peak} of the {len(ids)} calls were in flight at once; "
                             f"all of them should run at the same time")
    expected = [f"item-{i}" for i in ids]
    if sorted(results) == sorted(expected):
        expect(same(results, expected),
               f"the results came back in the wrong order: for ids {ids} you returned {results}. "
               f"Return them in the order of `ids`, not in the order the calls finished")
    expect(same(results, expected), f"for ids {ids} fetch_all returned {results}; expected {expected}")
    empty = await _call("fetch_all", lambda: fetch_all(fetch, []), "it was given no ids at all")
    expect(isinstance(empty, (list, tuple)) and len(empty) == 0,
           f"fetch_all(fetch, []) returned {_describe(empty)}; with no ids it should return []")


# -- 01.with_timeout -----------------------------------------------------------------------------

@exercise("01.with_timeout", target="with_timeout", points=2, timeout=30, sealed=True)
async def check_with_timeout(with_timeout: Callable[..., Awaitable[Any]]) -> None:
    """`await with_timeout(fetch, i, seconds, default)`: the result in time, else `default` (and the call cancelled)."""
    slow_seconds = 30.0
    seen: dict[str, Any] = {"calls": [], "cancelled": False, "cleaned_up": False}

    async def fetch(i: Any) -> str:
        seen["calls"].append(i)
        try:
            await asyncio.sleep(0.01 if i == "fast" else slow_seconds)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise
        finally:
            seen["cleaned_up"] = True
        return f"value-{i}"

    got = await _call("with_timeout", lambda: with_timeout(fetch, "fast", 5.0, "fallback"),
                      "the call it wraps answers in 0.01 s and the limit was 5 s")
    expect(seen["calls"] == ["fast"], f"fetch was called with {seen['calls']}; expected exactly one call, "
                                      f"fetch('fast')")
    expect(same(got, "value-fast"), f"with_timeout(fetch, 'fast', 5.0, 'fallback') returned {_describe(got)}; "
                                f"the call answers in 0.01 s, so it should return its value 'value-fast'")

    seen.update(calls=[], cancelled=False, cleaned_up=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = await _call("with_timeout", lambda: with_timeout(fetch, "slow", 0.2, "fallback"),
                      f"it wraps a call that takes {slow_seconds:g} s with a limit of 0.2 s: it should give up "
                      f"after `seconds` and return `default`")
    elapsed = loop.time() - started
    expect(same(got, "fallback"), f"with_timeout(fetch, 'slow', 0.2, 'fallback') returned {_describe(got)}; the call "
                              f"takes {slow_seconds:g} s, so after 0.2 s it should return the default 'fallback'")
    expect(seen["cancelled"] and seen["cleaned_up"],
           f"you returned the default after {elapsed:.2f} s, but the slow call was never cancelled: it is still "
           f"running in the background. asyncio.timeout() and asyncio.wait_for() cancel it for you")


# -- 01.fastest ----------------------------------------------------------------------------------

@exercise("01.fastest", target="fastest", points=3, timeout=30, sealed=True)
async def check_fastest(fastest: Callable[..., Awaitable[Any]]) -> None:
    """`await fastest(fetchers)`: the first result to arrive; every other call cancelled and finished."""
    # The winner is third in the list; the others take 5 s, 30 s, or forever.
    plans: list[float | None] = [5.0, 30.0, 0.05, None]
    winner = 2
    tasks: dict[int, asyncio.Task[Any] | None] = {}
    cleaned: set[int] = set()
    cancelled: set[int] = set()
    in_flight = 0
    peak = 0

    def make(k: int, delay: float | None) -> Callable[[], Awaitable[str]]:
        async def fetcher() -> str:
            nonlocal in_flight, peak
            tasks[k] = asyncio.current_task()
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                if delay is None:
                    await asyncio.Event().wait()  # never set: only a cancel ends it
                else:
                    await asyncio.sleep(delay)
            except asyncio.CancelledError:
                cancelled.add(k)
                raise
            finally:
                in_flight -= 1
                cleaned.add(k)
            return f"answer-{k}"

        fetcher.__name__ = fetcher.__qualname__ = f"fetcher_{k}"
        return fetcher

    fetchers = [make(k, d) for k, d in enumerate(plans)]
    ours = asyncio.all_tasks()  # this check's own tasks (and whatever runs it)
    try:
        got, (cleaned_then, pending) = await _call(
            "fastest", lambda: fastest(list(fetchers)),
            f"fetcher #{winner} answers in 0.05 s but others take much longer or never finish: "
            f"do you wait for all of them (gather does) instead of the first one?",
            observe=lambda: (set(cleaned), [t for t in asyncio.all_tasks() - ours - {asyncio.current_task()}
                                            if not t.done()]))
        try:
            expect(not isinstance(got, (list, tuple)),
                   f"fastest returned {_describe(got)}: return only the first result to arrive, not a collection")
            expect(same(got, f"answer-{winner}"),
                   f"fastest returned {_describe(got)}; fetcher #{winner} (third in the list) answers first, so "
                   f"expected 'answer-{winner}'" + (": you returned the first fetcher's result, not the fastest"
                                                   if got == "answer-0" else ""))
        finally:
            _close_coroutines(got)
        never = [k for k in range(len(plans)) if k not in tasks]
        expect(not never, f"fetcher(s) {never} were never called: start all of them at once")
        expect(peak == len(plans), f"at most {peak} of the {len(plans)} fetchers ran at once; start them all "
                                   f"before waiting for the first result")
        losers = [k for k in range(len(plans)) if k != winner]
        not_cancelled = [k for k in losers if k not in cleaned_then and not tasks[k].cancelling()]  # type: ignore[union-attr]
        expect(not not_cancelled, f"fetcher(s) {not_cancelled} were still running after fastest returned: "
                                  f"cancel every call that lost the race")
        unfinished = [k for k in losers if k not in cleaned_then]
        expect(not unfinished, f"you cancelled fetcher(s) {unfinished} but returned before they finished "
                               f"cancelling: await them after .cancel() (e.g. `await asyncio.gather(*pending, "
                               f"return_exceptions=True)`) so their cleanup runs before fastest returns")
        expect(set(losers) <= cancelled, "every call that lost the race should end by being cancelled")
        expect(not pending, f"{len(pending)} task(s) were still pending on the loop after fastest returned: "
                            f"cancel and await every task you started")
    finally:
        # Leave this check's loop clean whatever the learner's code left behind.
        leftovers = [t for t in asyncio.all_tasks() - ours if not t.done()]
        for t in leftovers:
            t.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)
