"""Grade a learner's notebook: run the course's Setup cells and the learner's exercise cells in a kernel,
then each exercise's registered check.

Cell tags (set in the solutions, carried into the learner edition):

* ``setup``: cells every exercise needs (imports, reference code). The grader runs the **course's** copies
  (from the learner edition in ``notebooks/``), in order, whatever the learner did to theirs.
* ``exercise:<id>``: the cell(s) where the learner writes exercise ``<id>`` (e.g. ``exercise:01.fetch_all``).
  A learner's cell that lost its tag is found by the name it defines (and a note says so).
* ``check:<id>``: the learner's self-check cell for that exercise (the grader does not run it).

Helper functions a learner wrote in cells of their own (above an exercise) are defined too: the grader runs
the definitions (``def``, ``class``, imports, constants) of every cell that is not one of the course's.

A notebook that does not parse, a setup cell that fails, a hanging cell (interrupted after the
time limit; the kernel is restarted if the interrupt does not free it), a deleted exercise cell or
megabytes of output cost only the exercises they affect; each verdict says why.

Where the check runs: a *sealed* check (``@exercise(..., sealed=True)``) runs in the grader's process and
reaches the learner's function only through :mod:`grader.channel`, so nothing in the kernel can change its
verdict. Any other check is executed in the kernel, from copies of the check modules read before any
learner code ran; its verdict is only as trustworthy as the kernel (see INSTRUCTORS.md, "Trust model").
With ``sandbox=Limits()`` the kernel runs in a bubblewrap sandbox (:mod:`grader.sandbox`).
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib.util
import inspect
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from labkit import checks
from labkit.checks import ERROR, MISSING, PASSED, TIMEOUT, Exercise, Result, get_exercise
from . import channel
from .sandbox import Limits, sandbox_command, sandbox_uid

__all__ = ["NotebookGrader", "cells_tagged", "load_hidden_checks", "lesson_notebooks", "manifest",
           "hidden_dir_from_env", "snapshot_sources", "HIDDEN_ENV", "MANIFEST"]

HIDDEN_ENV = "LABKIT_HIDDEN"
"""Environment variable naming the folder of hidden checks (same as ``--hidden``)."""

_MESSAGE_LIMIT = 2000          # characters of a learner-facing message we keep
_OUTPUT_LIMIT = 200_000        # characters of output kept per cell; the rest is dropped
_RESTART_GRACE = 10.0          # seconds an interrupted kernel gets to become idle again
_MAX_RESTARTS = 3              # kernel restarts per notebook before its remaining exercises are given up
_SOURCES: dict[str, str] = {}  # path -> text of every check module, read once per process
ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "labkit" / "exercises" / "lessons.json"
"""Every lesson's notebook and its exercises (written by ``python -m authoring.manifest``)."""
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "LABKIT_QUICK", "TZ")  # what a kernel inherits
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def cells_tagged(nb: Any, tag: str) -> list[int]:
    """Indexes of the cells that carry ``tag``, in notebook order."""
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^(async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", source, re.M) is not None


def _shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters cut]"


# -- which notebooks and checks exist -----------------------------------------------------------
def manifest(path: Path | str = MANIFEST) -> dict[str, Any]:
    """The lessons manifest: ``{"lessons": {"00": {"notebook": ..., "exercises": [...]}}}``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def lesson_notebooks(folder: Path | str | None = None) -> dict[str, str]:
    """``{"00": "00_welcome.ipynb", ...}``: from the manifest, or from the notebooks in ``folder``."""
    if folder is None:
        return {k: v["notebook"] for k, v in manifest()["lessons"].items()}
    return {p.name[:2]: p.name for p in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))}


def _definitions(source: str) -> str:
    """Only the definitions in a cell (functions, classes, imports, constants), as source; '' if none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    kept = [node for node in tree.body if isinstance(node, _DEFINITIONS) or (
        isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant))]
    return "\n".join(ast.unparse(node) for node in kept)


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


# The code injected into the learner's kernel to compute the verdict of a check that is not sealed. It runs
# the grader's copy of labkit/checks.py and of the check's module in fresh modules, then prints the verdict.
# The line carries an HMAC keyed with a secret drawn for this one check cell, so a verdict printed in advance
# (by a learner's cell or function) does not count. Code that reads this cell's source while it runs (an
# input transformer, an audit hook) can still forge it: only sealed checks are out of the learner's reach.
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
    signature = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    sys.stdout.write("\nLABKIT-RESULT:" + signature + ":" + body + "\n")
    sys.stdout.flush()
_labkit_grader_verdict(%r, %r, %r)
del _labkit_grader_verdict
'''


def read_verdict(text: str, ex: Exercise, key: str) -> Result | None:
    """The last verdict line in ``text`` for ``ex`` whose signature matches ``key``; forged lines are ignored."""
    for line in reversed(text.splitlines()):
        if not line.startswith("LABKIT-RESULT:"):
            continue
        signature, _, body = line[len("LABKIT-RESULT:"):].partition(":")
        expected = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            continue
        try:
            data = json.loads(body)
            if data.get("id") == ex.id:
                return Result(ex.id, str(data["status"]), str(data.get("message", "")), 0, ex.points)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return None


class _KernelManager(AsyncKernelManager):
    """A kernel manager that can start its kernel inside a sandbox (the command is wrapped)."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        wrap = getattr(self, "wrap", None)
        return wrap(cmd) if wrap else cmd

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        owner = getattr(self, "owner", None)
        if owner is not None:  # the sandboxed kernel runs as another user and must read it
            os.chown(self.connection_file, owner, owner)


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
                 sources: dict[str, str] | None = None, course: Path | str | None = None,
                 sandbox: Limits | None = None, uid: int = sandbox_uid(0), workroot: Path | None = None) -> None:
        self.path = Path(path)
        self.workroot = workroot  # where its kernel's folder goes (the class grader removes it, even after a kill)
        self.cell_timeout = cell_timeout
        self.kernel_name = kernel_name
        self.sources = dict(sources) if sources is not None else snapshot_sources()
        self.sandbox, self.uid = sandbox, uid
        self.problem: str | None = None
        self.setup_errors: list[str] = []
        self.notes: list[str] = []
        self.restarts = 0
        self._hung: set[int] = set()
        self._stuck = False
        self._client: Any = None
        self._kernel_cm: Any = None
        self._work: Path | None = None
        self._cells: list[Any] = []
        self._setup: list[Any] = []
        self._course_sources: set[str] = set()
        self._defined: set[int] = set()
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
        self._load_course(course)

    def _load_course(self, course: Path | str | None) -> None:
        """The course's own Setup cells (and every course cell's source, to tell the learner's own cells apart)."""
        if course is None:
            found = sorted((ROOT / "notebooks").glob(self.path.name[:3] + "*.ipynb"))
            course = found[0] if found else None
        if course is None or not Path(course).exists():
            self._setup = [c for c in self._cells if "setup" in c.metadata["tags"]]
            return
        ours = nbformat.read(course, as_version=4)
        code = [c for c in ours.cells if c.get("cell_type") == "code"]
        self._setup = [nbformat.v4.new_code_cell(c.source, metadata={"tags": ["setup"]})
                       for c in code if "setup" in c.get("metadata", {}).get("tags", [])]
        self._course_sources = {c.source.strip() for c in code}

    # -- kernel lifecycle ------------------------------------------------------------------
    def __enter__(self) -> "NotebookGrader":
        if self.nb is not None:
            self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def _workdir(self) -> Path:
        """A fresh folder for this notebook's kernel: its home, its package folder, its sockets."""
        if self._work is None:
            self._work = Path(tempfile.mkdtemp(prefix="grader-", dir=self.workroot))
            (self._work / "home").mkdir()
            if self.sandbox is not None:
                for path in (self._work, self._work / "home"):
                    os.chown(path, self.uid, self.uid)
        return self._work

    def _kernel_env(self) -> dict[str, str]:
        """Only what a kernel needs (never the hidden checks' folder or the grader's secrets)."""
        home = str(self._workdir() / "home")
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        # the learner's %%myshelf cells write their package here, never into the submission
        env.update(HOME=home, MYSHELF_HOME=home, IPYTHONDIR=f"{home}/.ipython", MPLCONFIGDIR=f"{home}/.matplotlib",
                   MPLBACKEND="agg", PYTHONDONTWRITEBYTECODE="1", JPY_SESSION_NAME=self.path.name)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
        return env

    def _kernel_manager(self) -> _KernelManager:
        km = _KernelManager(kernel_name=self.kernel_name)
        if self.sandbox is not None:
            work, limits, uid = self._workdir(), self.sandbox, self.uid
            km.transport, km.ip = "ipc", str(work / "kernel")  # unix sockets: the sandbox has no network
            km.connection_file = str(work / "kernel.json")
            km.owner = uid  # type: ignore[attr-defined]
            km.wrap = lambda cmd: sandbox_command(  # type: ignore[attr-defined]
                cmd, work, uid=uid, limits=limits, setenv={"JPY_PARENT_PID": "1"})
            assert km.kernel_spec is not None
            km.kernel_spec.interrupt_mode = "message"  # a signal would reach the sandbox, not the kernel
        return km

    def _start(self) -> None:
        work = nbformat.v4.new_notebook(cells=self._setup + self._cells, metadata=self.nb.metadata)
        self._client = _CappedClient(
            work, km=self._kernel_manager(), timeout=self.cell_timeout, kernel_name=self.kernel_name,
            allow_errors=True, interrupt_on_timeout=True, shutdown_kernel="immediate",
            # the kernel's own log only (learners' output and warnings come over the kernel's channels): no
            # "Kernel is running over TCP without encryption" per graded notebook, on 127.0.0.1 only anyway
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            error_on_timeout={"ename": "TimeoutError", "evalue": f"interrupted after {self.cell_timeout:g} s",
                              "traceback": []},
            resources={"metadata": {"path": str(self._workdir() / "home")}},
        )
        self._kernel_cm = self._client.setup_kernel(env=self._kernel_env())
        self._kernel_cm.__enter__()
        self.setup_errors = []
        self._defined = set()
        for index in range(len(self._setup)):
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
        offset = len(self._setup)
        found = [i for i in cells_tagged(self._client.nb, f"exercise:{ex_id}") if i >= offset]
        if found:
            return found
        # Tags can be lost when a learner re-creates or pastes a cell: fall back to the cell that defines it.
        found = [i for i in range(offset, len(self._client.nb.cells))
                 if _defines(self._client.nb.cells[i].source, target)][-1:]
        if found:
            self.notes.append(f"{self.path.name}: no cell is tagged `exercise:{ex_id}`; graded the cell that "
                              f"defines `{target}` (with the definitions in your own cells above it)")
        return found

    def _define_helpers(self, before: int) -> None:
        """Run the definitions in the learner's own cells above cell ``before`` (each cell once)."""
        for index in range(len(self._setup), before):
            cell = self._client.nb.cells[index]
            tags = cell.metadata.get("tags", [])
            if index in self._defined or cell.source.strip() in self._course_sources or any(
                    t == "setup" or t.startswith(("exercise:", "check:")) for t in tags):
                continue
            self._defined.add(index)
            code = _definitions(cell.source)
            if code:
                self._execute(nbformat.v4.new_code_cell(code), len(self._client.nb.cells), self.cell_timeout)
                self._restart_if_stuck()
                if self._client is None:
                    return

    def _verdict_sources(self, ex: Exercise) -> list[tuple[str, str]]:
        paths = [inspect.getsourcefile(checks), inspect.getsourcefile(ex.check)]
        missing = [p for p in paths if p not in self.sources]
        if missing:
            self.sources.update(snapshot_sources([ex]))
        return [(p, self.sources[p]) for p in paths if p]

    def grade(self, ex_id: str) -> Result:
        """Run exercise ``ex_id``'s cells, then its check (sealed: in this process; otherwise in the kernel)."""
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
        self._define_helpers(cells[0])
        if self._client is None:
            return verdict(ERROR, self.problem or "the kernel stopped")
        for index in cells:
            error = self._run(index)
            self._restart_if_stuck()
            if error:
                return verdict(ERROR, f"the exercise cell failed: {error}")
            if self._client is None:
                return verdict(ERROR, self.problem or "the kernel stopped")
        result = self._check_sealed(ex) if ex.sealed else self._check_in_kernel(ex)
        if isinstance(result, str):
            return verdict(TIMEOUT if "was interrupted" in result else ERROR, result)
        result = verdict(result.status, result.message)
        if not result.passed and self.setup_errors:
            note = "; ".join(self.setup_errors)
            result = verdict(result.status, f"{result.message} (note: a Setup cell failed: {note})")
        return result

    def _check_in_kernel(self, ex: Exercise) -> Result | str:
        """The verdict of a check run inside the kernel (read from its output), or why there is none."""
        key = secrets.token_hex(16)  # drawn now, after every learner cell has run
        cell = nbformat.v4.new_code_cell(_VERDICT_CODE % (ex.id, self._verdict_sources(ex), key))
        error = self._execute(cell, len(self._client.nb.cells), max(self.cell_timeout, ex.timeout + 10))
        self._restart_if_stuck()
        if error and "was interrupted" in error:
            return f"the check did not finish in time: {error}"
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        found = read_verdict(text, ex, key)
        if found is not None:
            return found
        why = error or ("no verdict came back: does your code replace `print`, `sys.stdout` or labkit itself? "
                        "Output was: " + text[-300:])
        return f"the check could not run: {why}"

    def _check_sealed(self, ex: Exercise) -> Result | str:
        """Run the check here, calling the learner's function in the kernel through the channel."""
        path = self._workdir() / f"channel-{len(self._client.nb.cells)}-{os.urandom(4).hex()}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        channel.unix_path(str(path), listener.bind)
        os.chmod(path, 0o777)  # the sandboxed kernel runs as another user
        listener.listen(1)
        listener.settimeout(max(self.cell_timeout, 10.0))
        box: dict[str, Any] = {}

        def judge() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(None)
            peer = box["peer"] = channel.Peer(conn, agent=False)
            try:
                hello = peer.hello.result(timeout=30)
                names = hello.get("names", {}) if isinstance(hello, dict) else {}
                value = names.get(ex.target) if isinstance(names, dict) else None
                box["result"] = checks.run_check(ex.id, {} if value is None else {ex.target: peer.decode(value)})
            except Exception as exc:  # noqa: BLE001 - a broken channel is the learner's kernel's doing
                box["error"] = f"the learner's kernel broke the grader's channel ({type(exc).__name__})"
            finally:
                peer.send({"op": "bye"})
                peer.close()

        thread = threading.Thread(target=judge, name="grader-judge", daemon=True)
        thread.start()
        agent = (f"exec(compile({Path(channel.__file__).read_text(encoding='utf-8')!r}, '<grader agent>', 'exec'), "
                 f"_grader_agent := {{'__name__': 'grader_agent', '__file__': '<grader agent>'}})\n"
                 f"_grader_agent['serve']({str(path)!r}, [{ex.target!r}])\ndel _grader_agent\n")
        cell = nbformat.v4.new_code_cell(agent)
        error = self._execute(cell, len(self._client.nb.cells), max(self.cell_timeout, ex.timeout + 15))
        listener.close()  # a kernel that never connected: accept() gives up
        thread.join(ex.timeout + 15)
        if "peer" in box:
            box["peer"].close()
            box["peer"].join()
        path.unlink(missing_ok=True)
        self._restart_if_stuck()
        if "result" in box:
            return box["result"]
        if error and "was interrupted" in error:
            return f"the check did not finish in time: {error}"
        return box.get("error") or f"the check could not reach your code in the kernel: {error or 'no answer'}"
