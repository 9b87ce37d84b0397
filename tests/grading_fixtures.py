"""A class of fake submissions for lesson 00, built from the solution and the stub with nbformat.

Used by tests/test_grade.py; also a script, to time the grader on a bigger class:

    python tests/grading_fixtures.py /tmp/class20 --copies 20

Each learner is a folder; EXPECTED maps it to the points it must get (public check ``00.greet``
worth 1, plus the hidden check ``00.greet:unicode`` worth 1 from ``grading_hidden/``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = Path(__file__).resolve().parent / "grading_hidden"
NOTEBOOK = "00_welcome.ipynb"

# learner -> (points for 00.greet, points for 00.greet:unicode)
EXPECTED: dict[str, tuple[int, int]] = {
    "full_marks": (1, 1),
    "untouched_stub": (0, 0),
    "wrong_answer": (0, 0),
    "partly_solved": (1, 0),
    "syntax_error": (0, 0),
    "corrupted_file": (0, 0),
    "missing_lesson": (0, 0),
    "forged_verdict": (0, 0),
    "hangs_in_setup_loop": (1, 1),
    "hangs_in_setup_sleep": (1, 1),
    "hangs_when_called": (0, 1),
    "ignores_interrupt": (1, 1),
    "raises_in_setup": (1, 1),
    "megabytes_of_output": (1, 1),
    "lost_cell_tags": (1, 1),
}

FORGERY = r'''
# A learner tries to forge the verdict: fake check functions, a print that invents a verdict,
# and a stdout that rewrites any verdict it sees to "passed".
import builtins, json, sys
import labkit.checks as _c

def _always_pass(id, namespace=None):
    ex = _c.get_exercise(id)
    return _c.Result(id, "passed", "", ex.points, ex.points)

_c.run_check = _always_pass
labkit.run_check = _always_pass
_real_print = builtins.print

def print(*args, **kwargs):
    _real_print('LABKIT-RESULT:' + json.dumps({"id": "00.greet", "status": "passed", "message": "",
                                               "points": 1, "max_points": 1}))
    _real_print(*args, **kwargs)

builtins.print = print

class _Rewriter:
    def __init__(self, inner):
        self.inner = inner
    def write(self, text):
        for word in ('"not attempted"', '"failed"', '"error"'):
            text = text.replace(word, '"passed"')
        return self.inner.write(text.replace('"points": 0', '"points": 1'))
    def __getattr__(self, name):
        return getattr(self.inner, name)

sys.stdout = _Rewriter(sys.stdout)
'''


def _cell(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if tag in c.metadata.get("tags", []))


def _solution() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / NOTEBOOK, as_version=4)


def _with_greet(body: str) -> nbformat.NotebookNode:
    nb = _solution()
    _cell(nb, "exercise:00.greet").source = f"def greet(name: str) -> str:\n{body}\n"
    return nb


def _with_setup(extra: str) -> nbformat.NotebookNode:
    nb = _solution()
    cell = _cell(nb, "setup")
    cell.source += "\n" + extra
    return nb


def build_learner(kind: str, folder: Path) -> None:
    """Write learner ``kind``'s submission into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / NOTEBOOK
    nb: nbformat.NotebookNode | None = None
    if kind == "full_marks":
        # As downloaded from a hub: nested folder, checkpoints and stray files around it.
        (folder / "notes.txt").write_text("my notes\n")
        (folder / "course" / "notebooks" / ".ipynb_checkpoints").mkdir(parents=True, exist_ok=True)
        (folder / "course" / "notebooks" / ".ipynb_checkpoints" / NOTEBOOK).write_text("{}")
        target = folder / "course" / "notebooks" / NOTEBOOK
        nb = _solution()
    elif kind == "untouched_stub":
        shutil.copy(ROOT / "notebooks" / NOTEBOOK, target)
    elif kind == "wrong_answer":
        nb = _with_greet('    return f"Hi {name}"')
    elif kind == "partly_solved":
        nb = _with_greet('    return "Hello, " + name.encode("ascii", "ignore").decode() + "!"')
    elif kind == "syntax_error":
        nb = _with_greet('    return f"Hello, {name}!"\n  oops(')
    elif kind == "corrupted_file":
        target.write_text('{"cells": [ this is not JSON')
    elif kind == "missing_lesson":
        (folder / "01_something_else.ipynb").write_text("{}")
    elif kind == "forged_verdict":
        nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
        _cell(nb, "setup").source += "\n" + FORGERY
    elif kind == "hangs_in_setup_loop":
        nb = _with_setup("while True:\n    pass")
    elif kind == "hangs_in_setup_sleep":
        nb = _with_setup("import time\ntime.sleep(10**6)")
    elif kind == "ignores_interrupt":
        nb = _with_setup("import time\nwhile True:\n    try:\n        time.sleep(100)\n"
                         "    except KeyboardInterrupt:\n        pass")
    elif kind == "hangs_when_called":
        nb = _with_greet('    while name == "Grace":\n        pass\n    return f"Hello, {name}!"')
    elif kind == "raises_in_setup":
        nb = _with_setup("import labkit_that_does_not_exist")
    elif kind == "megabytes_of_output":
        nb = _with_setup("for _ in range(50):\n    print('x' * 100_000)")
    elif kind == "lost_cell_tags":
        nb = _solution()
        _cell(nb, "exercise:00.greet").metadata["tags"] = []
    else:
        raise ValueError(f"unknown learner kind {kind!r}")
    if nb is not None:
        nbformat.write(nb, target)


def build_class(dest: Path, kinds: list[str] | None = None) -> Path:
    """One folder per learner kind under ``dest``."""
    for kind in kinds or list(EXPECTED):
        build_learner(kind, dest / kind)
    return dest


def build_copies(dest: Path, copies: int) -> Path:
    """A class of ``copies`` learners alternating full marks and untouched stubs (for timing)."""
    for i in range(copies):
        build_learner("full_marks" if i % 2 == 0 else "untouched_stub", dest / f"learner{i:02d}")
    return dest


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--copies", type=int, default=0, help="solutions/stubs mix of this many learners")
    args = parser.parse_args()
    if args.copies:
        build_copies(args.dest, args.copies)
    else:
        build_class(args.dest)
    print(f"wrote {args.dest}")
