"""Self-checks: the same checks a learner runs in a notebook and the grader runs in pytest.

Each exercise registers one check with :func:`exercise`. In a notebook a learner runs
``check("01.fetch_all")``: it finds the learner's ``fetch_all`` in the notebook, calls the check
in a worker thread with its own event loop and a time limit, and prints one line:

* ``✓ passed``,
* ``✗`` and what is wrong (the check's own message, or the error the learner's code raised),
* ``… not attempted`` while the stub still raises ``NotImplementedError``,
* ``!`` when the function is not defined yet (a cell was skipped), saying which cell to run.

The marks are plain text that every font draws (no emoji font needed).

It never raises, so a notebook with unsolved exercises still runs top to bottom. The grader
calls :func:`run_check` for the same verdict as data.

Two mistakes are recognised for every async exercise, whatever its own check tests:

* a forgotten ``await``: the learner's ``async def`` returns a coroutine, a Task/Future or an
  un-awaited ``asyncio.gather(...)`` (or a list of them) where a value was expected;
* ``asyncio.gather([...])`` given one list instead of the awaitables themselves (``gather(*aws)``).

A check also keeps its own warnings: "coroutine ... was never awaited" and "Task exception was never
retrieved" that the learner's code caused during the check are collected and summarised in the verdict
instead of appearing under a later cell.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import inspect
import json
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Exercise", "Result", "CheckFailed", "exercise", "expect", "expect_equal", "same", "run_check",
           "check", "exercises", "get_exercise", "MARKS"]

PASSED, FAILED, NOT_ATTEMPTED, MISSING, ERROR, TIMEOUT = (
    "passed", "failed", "not attempted", "missing", "error", "timeout")

# Marks every common font has (Latin-1 and General Punctuation / Dingbats drawn by DejaVu, Liberation,
# Noto Sans, Menlo, Consolas): no emoji font is needed to tell a pass from a failure.
MARKS = {PASSED: "✓", FAILED: "✗", NOT_ATTEMPTED: "…", MISSING: "!", ERROR: "✗", TIMEOUT: "✗"}
_ICONS = MARKS


class CheckFailed(AssertionError):
    """Raised by a check when the learner's answer is wrong; its message is shown to the learner."""


def expect(condition: object, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` is true."""
    if not condition:
        raise CheckFailed(message)


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: which notebook name it checks, how, and what it is worth."""

    id: str
    target: str
    check: Callable[[Any], Any]
    points: int
    timeout: float
    cell_hint: str
    sealed: bool = False


    @property
    def lesson(self) -> str:
        return self.id.split(".", 1)[0]


_REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, *, target: str, points: int = 1, timeout: float = 30.0, cell_hint: str = "",
             sealed: bool = False) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register ``check(answer)`` (a plain or ``async`` function) as the check of exercise ``id``.

    ``target`` is the name the learner defines in the notebook. ``cell_hint`` names the cell to run
    when the name is missing (defaults to "the cell under the exercise's heading"). ``sealed=True``
    says the check gives ``answer`` only plain data and functions and reads back only plain data, so
    the class grader can run it in its own process, out of the learner's reach.
    """

    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if id in _REGISTRY and _REGISTRY[id].check.__qualname__ != fn.__qualname__:
            raise ValueError(f"exercise {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id, target, fn, points, timeout,
                                 cell_hint or f"the cell that defines `{target}`", sealed)
        return fn

    return register


def _load_all() -> None:
    importlib.import_module("labkit.exercises")


def exercises(lesson: str | None = None) -> list[Exercise]:
    """All registered exercises (of one lesson, e.g. ``"01"``), in id order."""
    _load_all()
    found = [e for e in _REGISTRY.values() if lesson is None or e.lesson == lesson]
    return sorted(found, key=lambda e: e.id)


def get_exercise(id: str) -> Exercise:
    """The exercise registered under ``id``; a KeyError that lists the known ids otherwise."""
    _load_all()
    try:
        return _REGISTRY[id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"no exercise {id!r}; known exercises: {known}") from None


@dataclass(frozen=True)
class Result:
    """The verdict of one check."""

    id: str
    status: str
    message: str
    points: float
    max_points: int

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Result":
        return cls(**json.loads(text))

    def __str__(self) -> str:
        icon = _ICONS.get(self.status, "?")
        return f"{icon} {self.id}: {self.status}" + (f" - {self.message}" if self.message else "")


def _user_namespace() -> Mapping[str, Any]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is always there in the course
        shell = None
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


def _learner_frame(tb: Any) -> str:
    """Where in the learner's own code an exception came from, as 'line N: code'."""
    frames = [f for f in traceback.extract_tb(tb)
              if "labkit" not in f.filename and "site-packages" not in f.filename
              and "/lib/python" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    code = (frame.line or "").strip()
    return f" (in `{frame.name}`, line {frame.lineno}: `{code}`)" if code else f" (in `{frame.name}`)"


# -- strict comparisons -----------------------------------------------------------------------------

_PLAIN = (str, bytes, int, float, complex, bool, type(None))


def _mismatch(actual: Any, expected: Any, where: str = "") -> tuple[bool, str] | None:
    """How ``actual`` differs from ``expected``: ``(is_a_type_difference, text)``, or None when they are the same.

    Types must match exactly at every level (a ``str`` subclass is not a ``str``), so a value whose own
    ``__eq__`` claims equality with anything cannot pass; only then are values compared.
    """
    here = where or "it"
    if type(expected) is float and isinstance(actual, float) and type(actual) is not float:
        actual = float.__float__(actual)   # the number itself (numpy's float64 is a float subclass)
    if type(actual) is not type(expected):
        if isinstance(actual, type(expected)):
            return True, (f"{here} is a `{type(actual).__qualname__}`, a subclass of `{type(expected).__name__}`: "
                          f"return a plain `{type(expected).__name__}`")
        return True, f"{here} is a `{type(actual).__name__}`, expected a `{type(expected).__name__}`"
    if isinstance(expected, (list, tuple)):
        if len(actual) != len(expected):
            return False, f"{here} has {len(actual)} item(s), expected {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            found = _mismatch(a, e, f"{where}[{i}]" if where else f"item {i}")
            if found:
                return found
        return None
    if isinstance(expected, (set, frozenset, dict)):
        odd = [k for k in actual if type(k) not in _PLAIN and type(k) is not tuple]
        if odd:
            return True, f"{here} has a key of type `{type(odd[0]).__qualname__}`, expected plain values"
        if set(actual) != set(expected):
            return False, f"{here} holds {_short(sorted(map(repr, actual)))}, expected {_short(sorted(map(repr, expected)))}"
        if isinstance(expected, dict):
            for key in expected:
                found = _mismatch(actual[key], expected[key], f"{where}[{key!r}]" if where else f"[{key!r}]")
                if found:
                    return found
        return None
    if expected == actual:   # the same exact type: its own comparison, not one the learner's value brings
        return None
    return False, f"{here} is {_short(actual)}, expected {_short(expected)}"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a learner's broken __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def same(actual: Any, expected: Any) -> bool:
    """True when ``actual`` equals ``expected`` with exactly the same types, all the way down.

    Use it instead of ``==`` on what a learner's code returned: ``got == "x"`` calls ``got.__eq__`` first
    (for a ``str`` subclass, even ``"x" == got`` does), so a value can claim to equal anything.
    """
    return _mismatch(actual, expected) is None


def expect_equal(actual: Any, expected: Any, message: str | None = None, *, what: str = "the result") -> None:
    """Fail the check unless ``actual`` equals ``expected`` with exactly the same types (see :func:`same`).

    ``message`` is the check's own explanation (default: "<what> is X; expected Y"); a difference in type
    adds which type was found where.
    """
    found = _mismatch(actual, expected)
    if found is None:
        return
    is_type, detail = found
    text = message or f"{what} is {_short(actual)}; expected {_short(expected)}"
    if is_type:
        text += f" ({what} {detail[3:]})" if detail.startswith("it ") else f" ({what}{'' if detail.startswith('[') else ': '}{detail})"
    raise CheckFailed(text)


# -- a forgotten `await`, and gather without a star --------------------------------------------------

_GATHER_STAR = ("`asyncio.gather` takes each awaitable as its own argument, but it was given one list. "
                "Unpack the list with a star: `await asyncio.gather(*coros)` (the `*` spreads the list into "
                "separate arguments); without it gather sees a single list, which is not awaitable")
_NOT_AWAITABLE = "An asyncio.Future, a coroutine or an awaitable is required"


def _call_name(value: Any) -> str:
    """The call an awaitable came from, as the learner wrote it: `fetch(...)`, `asyncio.gather(...)`."""
    return _call_name_of(value).replace("_remote_call(...)", "the call")   # a grader's stand-in for the call


def _call_name_of(value: Any) -> str:
    if inspect.iscoroutine(value):
        return f"{getattr(value, '__name__', None) or 'a coroutine'}(...)"
    if isinstance(value, asyncio.Task):
        return f"a Task running {_call_name_of(value.get_coro())}"
    if type(value).__name__ == "_GatheringFuture":
        return "asyncio.gather(...)"
    text = repr(value)
    match = re.match(r"<coroutine object (\S+) at", text)
    if match:
        return f"{match.group(1).rsplit('.', 1)[-1]}(...)"
    if text.startswith("<_GatheringFuture"):
        return "asyncio.gather(...)"
    match = re.search(r"coro=<(\S+?)\(", text)
    if match:
        return f"a Task running {match.group(1).rsplit('.', 1)[-1]}(...)"
    return f"a {type(value).__name__}"


def _kind(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if inspect.iscoroutine(value) or text.startswith("<coroutine"):
        return "a coroutine"
    if isinstance(value, asyncio.Task) or text.startswith("<Task"):
        return "a Task"
    if type(value).__name__ == "_GatheringFuture" or text.startswith("<_GatheringFuture"):
        return "an un-awaited `asyncio.gather(...)`"
    return "a Future"


def _is_pending_awaitable(value: Any) -> bool:
    """A coroutine, Task or Future (also one a grader's channel stands in for): a value not awaited yet."""
    return (inspect.iscoroutine(value) or isinstance(value, asyncio.Future)
            or (inspect.isawaitable(value) and not isinstance(value, type)
                and repr(value).startswith(("<coroutine", "<Task", "<Future", "<_GatheringFuture"))))


def _forgot_await(name: str, value: Any) -> str | None:
    """The message for a value that should have been awaited before ``name`` returned it, or None."""
    if _is_pending_awaitable(value):
        call, kind = _call_name(value), _kind(value)
        if "gather" in call:
            what, how = kind, "write `return await asyncio.gather(...)`"
        elif call.startswith("a Task"):
            what, how = f"a Task (running `{call[len('a Task running '):]}`)", "`await` the task (`return await task`) to get the value it produced"
        else:
            what, how = f"{kind} of `{call}`", f"put `await` before `{call}`"
        return (f"you forgot `await`: `{name}` returned {what} instead of its result; {how}. Without `await` "
                f"the call is only created, never run to its end")
    # A list of coroutines (not of Tasks: some exercises are about the tasks themselves, say which are stuck).
    if isinstance(value, (list, tuple)) and value and all(
            _is_pending_awaitable(v) and _kind(v) == "a coroutine" for v in value):
        calls = ", ".join(f"`{c}`" for c in sorted({_call_name(v) for v in value}))
        return (f"you forgot `await`: `{name}` returned a {type(value).__name__} of {len(value)} un-awaited "
                f"{_kind(value[0]).split(' ', 1)[-1]}s ({calls[:120]}) instead of their results; await them "
                f"together: `return await asyncio.gather(*calls)`")
    return None


def _discard(value: Any) -> None:
    """Close or cancel what a wrong answer left un-awaited, so it neither runs on nor warns later."""
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if inspect.iscoroutine(item):
            item.close()
        elif isinstance(item, asyncio.Future) and not item.done():
            item.cancel()


def _gather_without_star(error: BaseException) -> bool:
    """True when ``error`` is the TypeError that ``asyncio.gather([...])`` (no star) raises.

    On Python 3.11-3.13 it reads "unhashable type: 'list'" (gather keys its arguments in a dict), in other
    versions "An asyncio.Future, a coroutine or an awaitable is required".
    """
    text = str(error)
    if not isinstance(error, TypeError) or not ("unhashable type" in text or _NOT_AWAITABLE in text):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    if any(f.name == "gather" and f.filename.replace("\\", "/").endswith("asyncio/tasks.py") for f in frames):
        return True
    return "gather(" in text   # from a grader's channel: the learner's line is in the message


def _used_unawaited(error: BaseException) -> str | None:
    """The message for using a coroutine/Future as if it were its result ('coroutine' object has no ...)."""
    match = re.search(r"'(coroutine|_GatheringFuture|Task|Future)' object", str(error))
    if not isinstance(error, (TypeError, AttributeError)) or not match:
        return None
    return (f"you forgot `await`: your code used {_kind('<' + match.group(1))} as if it were its result "
            f"({type(error).__name__}: {error}). Put `await` before the call that produced it")


def _guard(fn: Any, name: str, found: list[str]) -> Any:
    """``fn`` as the check sees it: for an ``async def``, a forgotten ``await`` becomes a clear failure.

    What was found is also recorded in ``found``: a check that catches every exception of the learner's
    code (some must) cannot hide it from the verdict.
    """
    if not (inspect.iscoroutinefunction(fn) or getattr(fn, "is_async", None) is True):
        return fn

    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            value = await fn(*args, **kwargs)
        except TypeError as exc:
            if _gather_without_star(exc):
                found.append(_GATHER_STAR)
                raise CheckFailed(_GATHER_STAR) from None
            raise
        problem = _forgot_await(name, value)
        if problem:
            found.append(problem)
            _discard(value)
            raise CheckFailed(problem)
        return value

    try:
        functools.update_wrapper(guarded, fn)
    except (AttributeError, TypeError):  # a callable without the usual function attributes
        guarded.__wrapped__ = fn  # type: ignore[attr-defined]
    return guarded


# -- warnings a check keeps to itself ----------------------------------------------------------------

class _Absorbed:
    """What the learner's code left behind during one check: never-awaited coroutines, lost task errors."""

    def __init__(self) -> None:
        self.never_awaited: list[str] = []
        self.lost_errors: list[str] = []
        self.other: list[warnings.WarningMessage] = []

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The check loop's exception handler: collect, never print."""
        exc = context.get("exception")
        what = context.get("message", "an error in the event loop")
        self.lost_errors.append(f"{what}: {type(exc).__name__}: {exc}" if exc is not None else str(what))

    def summary(self) -> str:
        parts = []
        if self.never_awaited:
            names = ", ".join(sorted(set(self.never_awaited)))
            parts.append(f"{len(self.never_awaited)} coroutine(s) were created but never awaited ({names}): "
                         f"a call to an `async def` does nothing until it is awaited")
        if self.lost_errors:
            parts.append(f"{len(self.lost_errors)} task error(s) were never retrieved ("
                         f"{self.lost_errors[0][:160]}): await every task you create, or the error is lost")
        return "; ".join(parts)


def _record_warning(absorbed: _Absorbed, message: warnings.WarningMessage) -> None:
    text = str(message.message)
    match = re.match(r"coroutine '([^']+)' was never awaited", text)
    if match:
        absorbed.never_awaited.append(f"`{match.group(1).rsplit('.', 1)[-1]}`")
    else:
        absorbed.other.append(message)


def _run_in_thread(fn: Callable[[Any], Any], arg: Any, timeout: float,
                   absorbed: _Absorbed | None = None) -> tuple[str, BaseException | None, Any]:
    """Run the check in a daemon thread (own event loop for async checks); never blocks past timeout."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            if inspect.iscoroutinefunction(fn):
                async def bounded() -> Any:
                    if absorbed is not None:
                        asyncio.get_running_loop().set_exception_handler(absorbed.loop_exception)
                    return await asyncio.wait_for(fn(arg), timeout)

                outcome["value"] = asyncio.run(bounded())
            else:
                outcome["value"] = fn(arg)
        except asyncio.TimeoutError as exc:
            outcome["timeout"] = exc
        except BaseException as exc:  # noqa: BLE001 - reported as the verdict
            outcome["error"] = exc
            outcome["tb"] = exc.__traceback__

    worker = threading.Thread(target=target, name="labkit-check", daemon=True)
    worker.start()
    worker.join(timeout + 2.0)
    if worker.is_alive() or "timeout" in outcome:
        return TIMEOUT, None, None
    if "error" in outcome:
        return "raised", outcome["error"], outcome["tb"]
    return PASSED, None, outcome.get("value")


def run_check(id: str, namespace: Mapping[str, Any] | None = None) -> Result:
    """Check exercise ``id`` against the learner's definition in ``namespace`` (default: the notebook)."""
    ex = get_exercise(id)
    ns = _user_namespace() if namespace is None else namespace

    def result(status: str, message: str = "") -> Result:
        return Result(id, status, message, ex.points if status == PASSED else 0, ex.points)

    if ex.target not in ns:
        return result(MISSING, f"`{ex.target}` is not defined yet: run {ex.cell_hint} first "
                               f"(and the Setup cells above it, if you restarted the kernel).")
    found: list[str] = []
    absorbed = _Absorbed()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, message = _verdict(ex, _guard(ns[ex.target], ex.target, found), found, absorbed)
        gc.collect()   # coroutines and tasks the learner's code dropped warn now, here, not under a later cell
    for warning in caught:
        _record_warning(absorbed, warning)
    for warning in absorbed.other:   # not the check's business: shown as they would have been
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno,
                               source=warning.source)
    if status != PASSED and absorbed.summary() and not found and not message.startswith("you forgot `await`"):
        message += f" (Also: {absorbed.summary()}.)"
    return result(status, message)


def _verdict(ex: Exercise, answer: Any, found: list[str], absorbed: _Absorbed) -> tuple[str, str]:
    status, error, tb = _run_in_thread(ex.check, answer, ex.timeout, absorbed)
    if found:   # a forgotten await or a star-less gather: whatever the check made of it, this is the cause
        return FAILED, found[0]
    if status == TIMEOUT:
        return TIMEOUT, (f"no answer within {ex.timeout:g} s: does your code wait on something that "
                         f"never finishes, or call a blocking function like time.sleep?")
    if error is None:
        return PASSED, ""
    if isinstance(error, NotImplementedError):
        return NOT_ATTEMPTED, (f"`{ex.target}` still raises NotImplementedError: replace "
                               f"`raise NotImplementedError()` with your code, run that cell, then this one.")
    if isinstance(error, AssertionError):
        return FAILED, str(error) or "an assertion failed"
    where = _learner_frame(tb)
    if _gather_without_star(error):
        return FAILED, f"{_GATHER_STAR}{where}"
    unawaited = _used_unawaited(error)
    if unawaited:
        return FAILED, f"{unawaited}{where}"
    return ERROR, f"your code raised {type(error).__name__}: {error}{where}"


def check(id: str) -> None:
    """Run exercise ``id``'s check on the notebook's definition and print the verdict. Never raises."""
    try:
        print(run_check(id))
    except KeyError as exc:
        print(f"{MARKS[MISSING]} {exc.args[0]}")
