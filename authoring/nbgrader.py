"""The nbgrader bridge: write an nbgrader course folder whose *source* notebooks are the course's lessons.

    python -m authoring.nbgrader OUT                        # every lesson with exercises
    python -m authoring.nbgrader OUT --lessons 00 01 --hidden ../course-hidden

nbgrader 0.9.6 rejects the solution notebooks as they are ("Solution region detected in a non-solution cell"):
it reads what a cell is from nbgrader's cell metadata, not from our tags. This writes, in nbgrader's course
layout, ``OUT/source/<lesson>/<lesson>.ipynb`` for each lesson (``00_welcome``, ...), from ``solutions/``:

* ``setup`` cells are **locked** (read-only; nbgrader puts the course's copy back when it grades);
* ``exercise:<id>`` cells (and any other cell with a ``### BEGIN SOLUTION`` region) are **solution** cells:
  ``nbgrader generate_assignment`` replaces the region with the same stub as the learner edition;
* each ``check:<id>`` cell becomes an **autograded test** cell worth the exercise's points in the registry
  (``labkit/exercises/lessons.json``): it runs the exercise's registered check (the learner's self-check) and
  fails unless it passes;
* each hidden check (``--hidden DIR``, default ``$LABKIT_HIDDEN``) gets a test cell of its own, worth its own
  points, right after its exercise's test, whose code sits between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS``: nbgrader leaves it out of what learners get and puts it back to grade;
* a Markdown cell with a ``<!-- BEGIN SOLUTION -->`` region becomes a manually graded answer worth 0 points.

``OUT/nbgrader_config.py`` names the course and points nbgrader's kernels at the course's own Python (the one
running this command, or ``--python``), through the kernel spec written in ``OUT/jupyter/``: nbgrader may run
in an environment of its own (``authoring/requirements-nbgrader.txt``) while the lessons run with the course's
packages. nbgrader's verdicts come from the learner's kernel: use them for trusted classes only (the
course's own grader, ``python -m grader``, runs each learner in a sandbox; see INSTRUCTORS.md).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from labkit.checks import Exercise, exercises

from .editions import BEGIN, MD_BLOCK, ROOT, strip_outputs

__all__ = ["source_notebook", "write_course", "load_hidden", "HIDDEN_BEGIN", "HIDDEN_END", "main"]

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SCHEMA_VERSION = 3  # nbgrader's cell metadata format (nbgrader 0.9)

_TEST = '''\
# Autograded: the check of exercise {id} ({points} point{s}), the same one `check("{id}")` runs.
from labkit.checks import run_check

_verdict = run_check("{id}")
print(_verdict)
assert _verdict.passed, _verdict.message'''

_HIDDEN_TEST = '''\
# A hidden check of exercise {exercise} ({points} point{s}): its code is added back when this notebook is graded.
{begin}
{module}
from labkit.checks import run_check

_verdict = run_check("{id}")
print(_verdict)
assert _verdict.passed, _verdict.message
{end}'''


def _grade_id(text: str) -> str:
    """A grade id nbgrader accepts (letters, digits, ``-`` and ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
                            "solution": solution, "task": False}
    if grade:
        meta["points"] = points or 0
    return meta


def load_hidden(folder: Path | str | None) -> dict[str, tuple[Exercise, str]]:
    """Hidden checks in ``folder`` by id (``<exercise id>:<name>``), each with its module's source."""
    if folder is None:
        return {}
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"hidden checks folder {folder} does not exist")
    sources: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"labkit_hidden_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}_{path.stem}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        sources[str(path.resolve())] = path.read_text(encoding="utf-8")
    found = {}
    for ex in exercises():
        where = inspect.getsourcefile(ex.check)
        where = str(Path(where).resolve()) if where else ""
        if where in sources:
            if ":" not in ex.id:
                raise ValueError(f"hidden check ids must look like '<exercise id>:<name>', got {ex.id!r}")
            found[ex.id] = (ex, sources[where])
    return found


def _test_cell(ex: Exercise) -> Any:
    source = _TEST.format(id=ex.id, points=ex.points, s="" if ex.points == 1 else "s")
    return nbformat.v4.new_code_cell(source, metadata={
        "tags": [f"check:{ex.id}"], "nbgrader": _meta(_grade_id(f"check-{ex.id}"), grade=True, locked=True,
                                                      points=ex.points)})


def _hidden_cell(ex: Exercise, module: str) -> Any:
    if HIDDEN_BEGIN in module or HIDDEN_END in module:
        raise ValueError(f"the module of hidden check {ex.id} holds nbgrader's hidden-test markers itself")
    source = _HIDDEN_TEST.format(exercise=ex.id.split(":")[0], id=ex.id, points=ex.points,
                                 s="" if ex.points == 1 else "s", begin=HIDDEN_BEGIN, end=HIDDEN_END,
                                 module=module.strip())
    return nbformat.v4.new_code_cell(source, metadata={
        "nbgrader": _meta(_grade_id(f"hidden-{ex.id}"), grade=True, locked=True, points=ex.points)})


def source_notebook(solution: Any, lesson: str, hidden: dict[str, tuple[Exercise, str]] | None = None) -> Any:
    """The nbgrader source notebook of one lesson, from its solution notebook (not changed)."""
    nb = strip_outputs(copy.deepcopy(solution))
    registered = {e.id: e for e in exercises(lesson) if ":" not in e.id}
    hidden = {k: v for k, v in (hidden or {}).items() if k.split(":")[0] in registered}
    cells: list[Any] = []
    tested: set[str] = set()
    setups = 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        checked = [t.split(":", 1)[1] for t in tags if t.startswith("check:")]
        if cell.cell_type == "code" and checked:
            for ex_id in checked:
                if ex_id not in registered:
                    raise ValueError(f"lesson {lesson}: a cell is tagged check:{ex_id}, which has no registered check")
                cells.append(_test_cell(registered[ex_id]))
                cells.extend(_hidden_cell(ex, module) for hid, (ex, module) in sorted(hidden.items())
                             if hid.split(":")[0] == ex_id)
                tested.add(ex_id)
            continue
        if cell.cell_type == "code" and "setup" in tags:
            setups += 1
            cell.metadata["nbgrader"] = _meta(f"setup-{setups}", locked=True)
        elif cell.cell_type == "code" and BEGIN in cell.source:
            named = [t.split(":", 1)[1] for t in tags if t.startswith("exercise:")]
            cell.metadata["nbgrader"] = _meta(_grade_id(named[0] if named else f"solution-{cell.id}"), solution=True)
        elif cell.cell_type == "markdown" and MD_BLOCK.search(cell.source):
            cell.metadata["nbgrader"] = _meta(_grade_id(f"answer-{cell.id}"), solution=True, grade=True, points=0)
        cells.append(cell)
    untested = sorted(set(registered) - tested)
    if untested:
        raise ValueError(f"lesson {lesson}: no cell is tagged check:<id> for {untested}, so nbgrader would not grade them")
    nb.cells = cells
    return nb


_CONFIG = '''\
"""nbgrader's configuration for this course folder (written by `python -m authoring.nbgrader`)."""

import os
from pathlib import Path

c = get_config()  # noqa: F821 - nbgrader provides it
here = Path(__file__).resolve().parent

c.CourseDirectory.root = str(here)
c.CourseDirectory.course_id = {course!r}
# a lesson's cells may serve an app or measure for a while (the course's cell limit is the same)
c.Execute.timeout = {timeout}
# The lessons run in the course's Python, which has the course's packages, whichever Python runs nbgrader:
# the kernel spec "python3" written in ./jupyter comes first on Jupyter's search path.
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    [str(here / "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])])
'''


def _kernel_spec(python: str, course: Path) -> dict[str, Any]:
    return {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (the course's environment)", "language": "python",
            "env": {"PYTHONPATH": str(course)}, "metadata": {"debugger": True}}


def write_course(out: Path, *, lessons: Sequence[str] | None = None, hidden: Path | str | None = None,
                 python: str = sys.executable, root: Path = ROOT, course_id: str = "async-api-course",
                 timeout: int = 120) -> list[Path]:
    """Write the nbgrader course folder ``out``; return the source notebooks written."""
    out = Path(out)
    if (out / "source").exists() and any((out / "source").iterdir()):
        raise FileExistsError(f"{out / 'source'} is not empty: give a new folder")
    found = load_hidden(hidden)
    written = []
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")):
        lesson = path.name[:2]
        if (lessons and lesson not in lessons) or not [e for e in exercises(lesson) if ":" not in e.id]:
            continue
        nb = source_notebook(nbformat.read(path, as_version=4), lesson, found)
        target = out / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    if lessons and len(written) != len(set(lessons)):
        missing = sorted(set(lessons) - {p.name[:2] for p in written})
        raise ValueError(f"no lesson with exercises numbered {missing}")
    spec = out / "jupyter" / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps(_kernel_spec(python, root), indent=1) + "\n", encoding="utf-8")
    (out / "nbgrader_config.py").write_text(_CONFIG.format(course=course_id, timeout=timeout), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: write the course folder and say what to run next."""
    parser = argparse.ArgumentParser(prog="python -m authoring.nbgrader", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the nbgrader course folder to write (its source/ must be new)")
    parser.add_argument("--lessons", nargs="+", metavar="NN", default=None, help="only these lessons (default: all)")
    parser.add_argument("--hidden", type=Path, default=Path(os.environ["LABKIT_HIDDEN"])
                        if os.environ.get("LABKIT_HIDDEN", "").strip() else None,
                        help="folder of hidden checks to add as hidden tests (default: $LABKIT_HIDDEN)")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python whose packages the lessons run with (default: this one)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell when nbgrader runs a notebook")
    args = parser.parse_args(argv)
    try:
        written = write_course(args.out, lessons=args.lessons, hidden=args.hidden, python=args.python,
                               timeout=args.timeout)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"python -m authoring.nbgrader: error: {exc}\n")
    for path in written:
        print(f"wrote {path}")
    first = written[0].parent.name if written else "00_welcome"
    print(f"\nnext, from {args.out}: nbgrader generate_assignment {first}, then put hand-ins in "
          f"submitted/<learner>/{first}/ and run nbgrader autograde {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
