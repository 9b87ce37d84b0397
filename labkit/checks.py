"""Self-checks: the same checks a learner runs in a notebook and the grader runs in pytest.

Each exercise registers one check with :func:`exercise`. In a notebook a learner runs
``check("01.fetch_all")``: it finds the learner's ``fetch_all`` in the notebook, calls the check
in a worker thread with its own event loop and a time limit, and prints one line:

* ``✅ passed``,
* ``❌`` and what is wrong (the check's own message, or the error the learner's code raised),
* ``⏳ not attempted yet`` while the stub still raises ``NotImplementedError``,
* ``⚠️`` when the function is not defined yet (a cell was skipped), saying which cell to run.

It never raises, so a notebook with unsolved exercises still runs top to bottom. The grader
calls :func:`run_check` for the same verdict as data.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Exercise", "Result", "CheckFailed", "exercise", "expect", "run_check", "check",
           "exercises", "get_exercise"]

PASSED, FAILED, NOT_ATTEMPTED, MISSING, ERROR, TIMEOUT = (
    "passed", "failed", "not attempted", "missing", "error", "timeout")

_ICONS = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "⏳", MISSING: "⚠️", ERROR: "❌", TIMEOUT: "⌛"}


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


def _run_in_thread(fn: Callable[[Any], Any], arg: Any, timeout: float) -> tuple[str, BaseException | None, Any]:
    """Run the check in a daemon thread (own event loop for async checks); never blocks past timeout."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            if inspect.iscoroutinefunction(fn):
                async def bounded() -> Any:
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
    status, error, tb = _run_in_thread(ex.check, ns[ex.target], ex.timeout)
    if status == TIMEOUT:
        return result(TIMEOUT, f"no answer within {ex.timeout:g} s: does your code wait on something that "
                               f"never finishes, or call a blocking function like time.sleep?")
    if error is None:
        return result(PASSED)
    if isinstance(error, NotImplementedError):
        return result(NOT_ATTEMPTED, f"`{ex.target}` still raises NotImplementedError: replace "
                                     f"`raise NotImplementedError()` with your code, run that cell, then this one.")
    if isinstance(error, AssertionError):
        return result(FAILED, str(error) or "an assertion failed")
    where = _learner_frame(tb)
    return result(ERROR, f"your code raised {type(error).__name__}: {error}{where}")


def check(id: str) -> None:
    """Run exercise ``id``'s check on the notebook's definition and print the verdict. Never raises."""
    try:
        print(run_check(id))
    except KeyError as exc:
        print(f"⚠️ {exc.args[0]}")
