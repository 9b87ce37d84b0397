"""Grade a learner's notebook: run its Setup and exercise cells in a kernel, then the same checks
the learner's self-check cells run.

Cell tags (set in the solutions, carried into the learner edition):

* ``setup``: cells every exercise needs (imports, reference code). Run first, in order.
* ``exercise:<id>``: the cell(s) where the learner writes exercise ``<id>`` (e.g. ``exercise:01.fetch_all``).
* ``check:<id>``: the learner's self-check cell for that exercise (the grader does not run it).

A notebook that does not parse, a setup cell that fails, a hanging cell (interrupted after the
time limit; the kernel is restarted if the interrupt does not free it), a deleted exercise cell or
megabytes of output cost only the exercises they affect; each verdict says why.

Integrity: the verdict is computed in the learner's kernel (that is where their code lives), so the
grader (1) reads the source of ``labkit/checks.py`` and of every check module once, before any
learner code runs, and executes that copy in a fresh module for each check, so monkeypatching
``labkit.checks`` or editing the files on disk changes nothing; and (2) accepts a verdict only if
it carries an HMAC keyed with a secret drawn per kernel, so printing a fake verdict does not count.
This stops casual forgery, not a determined attacker: see INSTRUCTORS.md, "Trust model".
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import inspect
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from labkit import checks
from labkit.checks import ERROR, MISSING, PASSED, TIMEOUT, Exercise, Result, get_exercise

__all__ = ["NotebookGrader", "cells_tagged", "load_hidden_checks", "lesson_notebooks",
           "hidden_dir_from_env", "snapshot_sources", "HIDDEN_ENV"]

HIDDEN_ENV = "LABKIT_HIDDEN"
"""Environment variable naming the folder of hidden checks (same as ``--hidden``)."""

_MESSAGE_LIMIT = 2000          # characters of a learner-facing message we keep
_OUTPUT_LIMIT = 200_000        # characters of output kept per cell; the rest is dropped
_RESTART_GRACE = 10.0          # seconds an interrupted kernel gets to become idle again
_MAX_RESTARTS = 3              # kernel restarts per notebook before its remaining exercises are given up
_SOURCES: dict[str, str] = {}  # path -> text of every check module, read once per process


def cells_tagged(nb: Any, tag: str) -> list[int]:
    """Indexes of the cells that carry ``tag``, in notebook order."""
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^(async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", source, re.M) is not None


def _shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters cut]"


# -- which notebooks and checks exist -----------------------------------------------------------
def lesson_notebooks(solutions: Path | str) -> dict[str, str]:
    """``{"00": "00_welcome.ipynb", ...}``: each lesson's notebook name, from the solutions folder."""
    return {p.name[:2]: p.name for p in sorted(Path(solutions).glob("[0-9][0-9]_*.ipynb"))}


def hidden_dir_from_env() -> Path | None:
    """The hidden-checks folder named by ``$LABKIT_HIDDEN``, if set."""
    value = os.environ.get(HIDDEN_ENV, "").strip()
    return Path(value) if value else None


def load_hidden_checks(folder: Path | str | None) -> list[Exercise]:
    """Import every ``*.py`` in ``folder`` (they register checks with ``@exercise``); return the new ones.

    A hidden check's id is ``<exercise id>:<name>`` (e.g. ``00.greet:unicode``): its points add to
    that exercise's column in the gradebook.
    """
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"hidden checks folder {folder} does not exist")
    before = {e.id for e in checks.exercises()}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"labkit_hidden_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}_{path.stem}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    hidden = [e for e in checks.exercises() if e.id not in before]
    bad = [e.id for e in hidden if ":" not in e.id]
    if bad:
        raise ValueError(f"hidden check ids must look like '<exercise id>:<name>', got {bad}")
    return hidden


def snapshot_sources(exercises: Iterable[Exercise] | None = None) -> dict[str, str]:
    """Read (once per process) the source of labkit/checks.py and of the modules defining ``exercises``.

    Call it before any learner code runs: the grader executes these copies, not the files on disk.
    """
    wanted = [inspect.getsourcefile(checks)]
    wanted += [inspect.getsourcefile(e.check) for e in (checks.exercises() if exercises is None else exercises)]
    for path in wanted:
        if path and path not in _SOURCES:
            _SOURCES[path] = Path(path).read_text(encoding="utf-8")
    return dict(_SOURCES)


# The code injected into the learner's kernel to compute one verdict. It runs the grader's copy
# of labkit/checks.py and of the check's module in fresh modules, then prints the verdict with an
# HMAC tag keyed by a secret the learner's code has not seen.
_VERDICT_CODE = r'''
def _labkit_grader_verdict(ex_id, sources, key):
    import hashlib, hmac, sys, types
    from IPython import get_ipython
    saved = sys.modules.get("labkit.checks")
    fresh = types.ModuleType("labkit.checks")
    fresh.__file__, fresh.__package__ = sources[0][0], "labkit"
    sys.modules["labkit.checks"] = fresh
    try:
        exec(compile(sources[0][1], sources[0][0], "exec"), fresh.__dict__)
        try:
            fresh._load_all()  # the lessons' modules register here first; the grader's copies win below
        except Exception:
            pass
        fresh._load_all = lambda: None
        for number, (path, text) in enumerate(sources[1:]):
            name = "_labkit_graded_checks_" + str(number)
            module = types.ModuleType(name)
            module.__file__, module.__package__ = path, "labkit.exercises"
            sys.modules[name] = module  # a registered module: dataclasses and pickling need one
            exec(compile(text, path, "exec"), module.__dict__)
        body = fresh.run_check(ex_id, get_ipython().user_ns).to_json()
    finally:
        if saved is not None:
            sys.modules["labkit.checks"] = saved
    tag = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    sys.stdout.write("\nLABKIT-RESULT:" + tag + ":" + body + "\n")
    sys.stdout.flush()
_labkit_grader_verdict(%r, %r, %r)
del _labkit_grader_verdict
'''


class _CappedClient(NotebookClient):
    """An nbclient that keeps at most ``_OUTPUT_LIMIT`` characters of output per cell and notes timeouts."""

    timed_out = False

    async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        kept = getattr(self, "_kept", 0)
        content = msg.get("content", {})
        size = len(content.get("text", "")) if msg["msg_type"] == "stream" else len(json.dumps(content))
        if kept >= _OUTPUT_LIMIT:
            if not getattr(self, "_cut", False):
                self._cut = True
                outs.append(nbformat.v4.new_output("stream", name="stderr",
                                                   text="\n[grader: output cut, too long]\n"))
            return None
        self._kept = kept + size
        if msg["msg_type"] == "stream" and kept + size > _OUTPUT_LIMIT:
            content["text"] = content["text"][:_OUTPUT_LIMIT - kept]
        return super().output(outs, msg, display_id, cell_index)


class NotebookGrader:
    """One kernel for one notebook. Use as a context manager; call :meth:`grade` per exercise."""

    def __init__(self, path: Path | str, *, cell_timeout: float = 60.0, kernel_name: str = "python3",
                 sources: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.cell_timeout = cell_timeout
        self.kernel_name = kernel_name
        self.sources = dict(sources) if sources is not None else snapshot_sources()
        self.problem: str | None = None
        self.setup_errors: list[str] = []
        self.restarts = 0
        self._hung: set[int] = set()
        self._stuck = False
        self._key = secrets.token_hex(16)
        self._client: Any = None
        self._kernel_cm: Any = None
        self._cells: list[Any] = []
        try:
            self.nb = nbformat.read(self.path, as_version=4)
            self._cells = [c for c in self.nb.cells if c.get("cell_type") == "code"]
            for cell in self._cells:
                cell.setdefault("metadata", {}).setdefault("tags", [])
                if not isinstance(cell.get("source"), str):
                    raise ValueError("a code cell has no source text")
        except FileNotFoundError:
            self.nb = None
            self.problem = f"{self.path.name} is missing from the submission"
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            self.nb = None
            self.problem = _shorten(f"{self.path.name} is not a readable notebook ({type(exc).__name__}: {exc})", 300)

    # -- kernel lifecycle ------------------------------------------------------------------
    def __enter__(self) -> "NotebookGrader":
        if self.nb is not None:
            self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start(self) -> None:
        work = nbformat.v4.new_notebook(cells=self._cells, metadata=self.nb.metadata)
        self._client = _CappedClient(
            work, timeout=self.cell_timeout, kernel_name=self.kernel_name, allow_errors=True,
            interrupt_on_timeout=True, shutdown_kernel="immediate",
            # the kernel's own log only (learners' output and warnings come over the kernel's channels): no
            # "Kernel is running over TCP without encryption" per graded notebook, on 127.0.0.1 only anyway
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            error_on_timeout={"ename": "TimeoutError", "evalue": f"interrupted after {self.cell_timeout:g} s",
                              "traceback": []},
            resources={"metadata": {"path": str(self.path.parent)}},
        )
        self._kernel_cm = self._client.setup_kernel()
        self._kernel_cm.__enter__()
        self.setup_errors = []
        for index in cells_tagged(work, "setup"):
            if index in self._hung:  # it hung before: after a restart, grade without it
                first = (work.cells[index].source.strip().splitlines() or [""])[0][:60]
                self.setup_errors.append(f"cell `{first}` never finished, even when interrupted: "
                                         f"the kernel was restarted and the cell skipped")
                continue
            error = self._run(index)
            if error:
                self.setup_errors.append(error)
            if self._stuck:
                break
        self._restart_if_stuck()

    def _stop(self) -> None:
        if self._kernel_cm is not None:
            try:
                self._kernel_cm.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a dead kernel is fine to leave
                pass
            self._kernel_cm = None

    def _restart_if_stuck(self) -> None:
        """The kernel did not come back after an interrupt: start a new one and run Setup again."""
        if not self._stuck:
            return
        self._stop()
        if self.restarts >= _MAX_RESTARTS:
            self.problem = f"the kernel stopped answering {self.restarts + 1} times; grading of this notebook stopped"
            self._client = None
            return
        self.restarts += 1
        self._stuck = False
        self._start()

    # -- running cells ---------------------------------------------------------------------
    def _execute(self, cell: Any, index: int, timeout: float) -> str | None:
        """Execute ``cell``; return a one-line description of its error, or None."""
        first = (cell.source.strip().splitlines() or ["(empty)"])[0][:60]
        self._client.timeout = int(max(1, round(timeout)))
        self._client._kept, self._client._cut, self._client.timed_out = 0, False, False
        cells = self._client.nb.cells
        extra = index >= len(cells)
        if extra:  # a cell of the grader's own: nbclient stores it back at its index
            index = len(cells)
            cells.append(cell)
        try:
            self._client.execute_cell(cell, index)
        except Exception as exc:  # noqa: BLE001 - kernel deaths land here
            return f"cell `{first}` did not finish: {type(exc).__name__}: {_shorten(str(exc), 300)}"
        finally:
            if extra:
                cells.pop()
        if self._client.timed_out:
            self._hung.add(index)
            self._recover()
            return (f"cell `{first}` was still running after {timeout:g} s and was interrupted "
                    f"(an endless loop, or waiting on something that never happens?)")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell `{first}` raised {out.get('ename')}: {_shorten(out.get('evalue', ''), 300)}"
        return None

    def _recover(self) -> None:
        """After an interrupt, wait for the kernel to answer again; restart it if it does not."""
        probe = nbformat.v4.new_code_cell("pass")
        self._client.timeout = int(max(2.0, min(_RESTART_GRACE, self.cell_timeout)))
        self._client.timed_out = False
        self._client.nb.cells.append(probe)
        try:
            self._client.execute_cell(probe, len(self._client.nb.cells) - 1)
            stuck = self._client.timed_out
        except Exception:  # noqa: BLE001
            stuck = True
        finally:
            self._client.nb.cells.pop()
        self._stuck = stuck

    def _run(self, index: int) -> str | None:
        return self._execute(self._client.nb.cells[index], index, self.cell_timeout)

    def _exercise_cells(self, ex_id: str, target: str) -> list[int]:
        found = cells_tagged(self._client.nb, f"exercise:{ex_id}")
        if found:
            return found
        # Tags can be lost when a learner re-creates a cell: fall back to the cell that defines it.
        return [i for i, c in enumerate(self._client.nb.cells) if _defines(c.source, target)][-1:]

    def _verdict_sources(self, ex: Exercise) -> list[tuple[str, str]]:
        paths = [inspect.getsourcefile(checks), inspect.getsourcefile(ex.check)]
        missing = [p for p in paths if p not in self.sources]
        if missing:
            self.sources.update(snapshot_sources([ex]))
        return [(p, self.sources[p]) for p in paths if p]

    def grade(self, ex_id: str) -> Result:
        """Run exercise ``ex_id``'s cells and its check in this notebook's kernel."""
        ex = get_exercise(ex_id)

        def verdict(status: str, message: str) -> Result:
            return Result(ex_id, status, _shorten(message), ex.points if status == PASSED else 0, ex.points)

        if self.nb is None:
            return verdict(MISSING, self.problem or "the notebook was not opened")
        if self._client is None:
            return verdict(ERROR, self.problem or "the notebook's kernel is not running")
        cells = self._exercise_cells(ex_id.split(":")[0], ex.target)
        if not cells:
            return verdict(MISSING, f"no cell defines `{ex.target}`: was the exercise cell deleted?")
        for index in cells:
            error = self._run(index)
            self._restart_if_stuck()
            if error:
                return verdict(ERROR, f"the exercise cell failed: {error}")
            if self._client is None:
                return verdict(ERROR, self.problem or "the kernel stopped")
        code = _VERDICT_CODE % (ex_id, self._verdict_sources(ex), self._key)
        cell = nbformat.v4.new_code_cell(code)
        error = self._execute(cell, len(self._client.nb.cells), max(self.cell_timeout, ex.timeout + 10))
        self._restart_if_stuck()
        if error and "was interrupted" in error:
            return verdict(TIMEOUT, f"the check did not finish in time: {error}")
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        result = self._read_verdict(text, ex)
        if result is None and "LABKIT-RESULT:" in text:
            return verdict(ERROR, "the check's verdict was altered on its way out of the kernel, so it does not "
                                  "count: does your code replace `print`, `sys.stdout` or parts of labkit?")
        if result is None:
            why = error or ("no verdict came back: does your code replace `print`, `sys.stdout` or "
                            "labkit itself? Output was: " + text[-300:])
            return verdict(ERROR, f"the check could not run: {why}")
        if not result.passed and self.setup_errors:
            note = "; ".join(self.setup_errors)
            result = verdict(result.status, f"{result.message} (note: a Setup cell failed: {note})")
        return result

    def _read_verdict(self, text: str, ex: Exercise) -> Result | None:
        """The last verdict line whose HMAC matches this kernel's key; points recomputed here."""
        for line in reversed(text.splitlines()):
            if not line.startswith("LABKIT-RESULT:"):
                continue
            tag, _, body = line[len("LABKIT-RESULT:"):].partition(":")
            good = hmac.new(self._key.encode(), body.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(tag, good):
                continue
            try:
                data = json.loads(body)
                status, message = str(data["status"]), str(data.get("message", ""))
            except (ValueError, TypeError, KeyError):
                continue
            if data.get("id") != ex.id:
                continue
            return Result(ex.id, status, _shorten(message), ex.points if status == PASSED else 0, ex.points)
        return None
