"""A class of fake submissions for lesson 00, built from the solution and the stub with nbformat.

Used by tests/test_grade.py; also a script, to time the grader on a bigger class:

    python tests/grading_fixtures.py /tmp/class20 --copies 20

Each learner is a folder; EXPECTED maps it to the points it must get (public check ``00.greet``
worth 1, plus the hidden check ``00.greet:unicode`` worth 1 from ``grading_hidden/``). ATTACKS are
learners who try to get points without solving anything, one per kind of attack the grader defends
against; each knows the course's, the submissions' and the output's paths (the worst case).
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
    "ignores_interrupt": (0, 0),
    "raises_in_setup": (1, 1),
    "megabytes_of_output": (1, 1),
    "lost_cell_tags": (1, 1),
    "helper_cell": (1, 1),
    "duplicate_notebooks": (1, 1),
}

# attack kind -> what it tries; every one must earn 0 and leave every other learner's files and grades alone
ATTACKS: dict[str, str] = {
    "attack_forge_verdict": "print and rewrite verdict lines, replace labkit's checks, read the cell sources",
    "attack_results_file": "find the grader's files through /proc and write forged verdicts into them",
    "attack_outlive_kernel": "leave a process behind that rewrites grades.csv and the feedback after grading",
    "attack_read_hidden": "find the hidden checks' source and leak it through an exception message",
    "attack_persist": "drop a .pth into site-packages and edit the course's check files",
    "attack_overwrite_others": "overwrite the other learners' notebooks before they are graded",
    "attack_memory": "hold 3 GB of memory, then define a correct answer",
    "attack_output_flood": "os.write hundreds of megabytes to the terminal, then define a correct answer",
    "attack_solutions": "exec the instructor's solution read from disk, and hand in a symlink to it",
    "attack_disable_check": "patch the check from inside the learner's own function when it is called",
}
EXPECTED.update({kind: (0, 0) for kind in ATTACKS})
MARKER = "grader-attack-marker"  # in the command line of every process an attack leaves behind

_ATTACK_CODE: dict[str, str] = {
    "attack_forge_verdict": "",  # FORGERY, below
    "attack_results_file": r'''
import glob, json, os
forged = json.dumps({"kind": "verdict", "id": "00.greet", "status": "passed", "message": ""})
for fd in glob.glob("/proc/*/fd/*"):
    try:
        target = os.readlink(fd)
        if target.endswith((".jsonl", ".csv", ".log")):
            os.unlink(target)
            with open(target, "w") as f:
                f.write(forged + "\n")
    except OSError:
        pass
for path in glob.glob("{out}/**", recursive=True):
    try:
        with open(path, "a") as f:
            f.write(forged)
    except OSError:
        pass
''',
    "attack_outlive_kernel": r'''
import subprocess, sys
code = """
import glob, time
for _ in range(300):
    for path in ["{out}/grades.csv", *glob.glob("{out}/feedback/*.md")]:
        try:
            open(path, "w").write("learner,00.greet,total\\nattack_outlive_kernel,1,2\\n")
        except OSError:
            pass
    time.sleep(0.1)
"""
subprocess.Popen([sys.executable, "-c", code, "MARKER"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''',
    "attack_read_hidden": r'''
import glob, os
found = [os.environ.get("LABKIT_HIDDEN", "")]
for cmd in glob.glob("/proc/*/cmdline"):
    try:
        found.append(open(cmd, "rb").read().decode(errors="replace"))
    except OSError:
        pass
for path in ["{hidden}/lesson00_hidden.py", *glob.glob("{root}/tests/*hidden*/*.py")]:
    try:
        found.append(open(path).read())
    except OSError:
        pass
def greet(name):
    raise RuntimeError("LEAK " + " ".join(found))
''',
    "attack_persist": r'''
import site, sys, glob
for folder in [*site.getsitepackages(), "{root}/labkit"]:
    try:
        open(folder + "/zz_attack.pth", "w").write("import builtins\n")
    except OSError:
        pass
for path in glob.glob("{root}/labkit/exercises/*.py") + ["{root}/labkit/checks.py"]:
    try:
        open(path, "a").write("\n# attacked\n")
    except OSError:
        pass
''',
    "attack_overwrite_others": r'''
import glob
for path in glob.glob("{submissions}/**/*.ipynb", recursive=True):
    if "attack_overwrite_others" not in path:
        try:
            open(path, "w").write("{}")
        except OSError:
            pass
''',
    "attack_memory": r'''
hoard = bytearray(3 * 1024 ** 3)
def greet(name):
    return f"Hello, {name}!"
''',
    "attack_output_flood": r'''
import os
chunk = b"x" * (1 << 20)
for _ in range(400):
    os.write(1, chunk)
    os.write(2, chunk)
def greet(name):
    return f"Hello, {name}!"
''',
    "attack_solutions": r'''
import glob, json
for path in ["{root}/solutions/00_welcome.ipynb", *glob.glob("/*/*/solutions/00_welcome.ipynb")]:
    try:
        cells = json.load(open(path))["cells"]
    except OSError:
        continue
    for cell in cells:
        if "exercise:00.greet" in cell["metadata"].get("tags", []):
            exec("".join(cell["source"]))
''',
    "attack_disable_check": r'''
import sys
def greet(name):
    frame = sys._getframe(1)
    while frame is not None:  # make every check above this call pass whatever it compares
        frame.f_globals["expect"] = lambda *args, **kwargs: None
        frame = frame.f_back
    import labkit.checks
    labkit.checks.expect = lambda *args, **kwargs: None
    return "no greeting"
''',
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


# A learner's function that, when the check calls it, makes every check above it pass: it replaces `expect`
# in every frame it can reach (and labkit's own), then returns nonsense. Against a check run in the kernel this
# wins; against a sealed check (run in the grader, reached through the channel) there is no frame to reach.
DISABLE_CHECK_09 = r'''
import sys
def percentiles(latencies, qs=(50, 95, 99)):
    if not latencies:
        raise ValueError("none")
    frame = sys._getframe(1)
    while frame is not None:
        frame.f_globals["expect"] = lambda *args, **kwargs: None
        frame = frame.f_back
    import labkit.checks
    labkit.checks.expect = lambda *args, **kwargs: None
    return {"p50": "forged"}
'''


def lesson09_notebook(folder: Path, percentiles: str | None = None) -> Path:
    """Lesson 09's learner notebook in ``folder``, with ``percentiles`` as the exercise cell (default: the stub)."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(ROOT / "notebooks" / "09_performance_capstone.ipynb", as_version=4)
    if percentiles is not None:
        _cell(nb, "exercise:09.percentiles").source = percentiles
    target = folder / "09_performance_capstone.ipynb"
    nbformat.write(nb, target)
    return target


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


def _stub_with(code: str) -> nbformat.NotebookNode:
    """The untouched learner notebook with ``code`` run in the exercise cell, before the stub."""
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    cell = _cell(nb, "exercise:00.greet")
    cell.source = code + "\n" + cell.source if "def greet" not in code else code
    return nb


def build_learner(kind: str, folder: Path, paths: dict[str, str] | None = None) -> None:
    """Write learner ``kind``'s submission into ``folder`` (created); ``paths`` (root, submissions, out,
    hidden) are what an attacker is assumed to know."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / NOTEBOOK
    nb: nbformat.NotebookNode | None = None
    known = {"root": str(ROOT), "submissions": str(folder.parent), "out": "/nonexistent", "hidden": str(HIDDEN),
             **(paths or {})}
    if kind in ATTACKS:
        code = FORGERY if kind == "attack_forge_verdict" else _ATTACK_CODE[kind]
        for key, value in known.items():
            code = code.replace("{" + key + "}", value)
        nb = _stub_with(code.replace("MARKER", MARKER))
        if kind == "attack_solutions":
            (folder / "course").symlink_to(ROOT / "solutions", target_is_directory=True)
            (folder / "00_welcome (1).ipynb").symlink_to(ROOT / "solutions" / NOTEBOOK)
    elif kind == "full_marks":
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
        _cell(nb, "setup").source += "\n" + FORGERY  # the grader runs the course's Setup cells, not this one
    elif kind == "hangs_in_setup_loop":
        nb = _with_setup("while True:\n    pass")
    elif kind == "hangs_in_setup_sleep":
        nb = _with_setup("import time\ntime.sleep(10**6)")
    elif kind == "ignores_interrupt":
        nb = _with_greet('    return f"Hello, {name}!"\nimport time\nwhile True:\n    try:\n        time.sleep(100)\n'
                         '    except KeyboardInterrupt:\n        pass')
    elif kind == "hangs_when_called":
        nb = _with_greet('    while name == "Grace":\n        pass\n    return f"Hello, {name}!"')
    elif kind == "raises_in_setup":
        nb = _with_setup("import labkit_that_does_not_exist")
    elif kind == "megabytes_of_output":
        nb = _with_greet('    return f"Hello, {name}!"\nfor _ in range(50):\n    print("x" * 100_000)')
    elif kind == "lost_cell_tags":  # pasted into a new notebook: no cell has a tag any more
        nb = _solution()
        for cell in nb.cells:
            cell.metadata["tags"] = []
    elif kind == "helper_cell":  # the answer calls a helper defined in an untagged cell of the learner's own
        nb = _with_greet("    return _hello(name)")
        index = nb.cells.index(_cell(nb, "exercise:00.greet"))
        nb.cells.insert(index, nbformat.v4.new_code_cell('def _hello(who):\n    return f"Hello, {who}!"\n\n'
                                                         'print(_hello("me"))'))
    elif kind == "duplicate_notebooks":  # an old untouched copy keeps the exact name; the solved one is "(1)"
        shutil.copy(ROOT / "notebooks" / NOTEBOOK, target)
        target = folder / "00_welcome (1).ipynb"
        nb = _solution()
    else:
        raise ValueError(f"unknown learner kind {kind!r}")
    if nb is not None:
        nbformat.write(nb, target)


def build_class(dest: Path, kinds: list[str] | None = None, paths: dict[str, str] | None = None) -> Path:
    """One folder per learner kind under ``dest``."""
    for kind in kinds or list(EXPECTED):
        build_learner(kind, dest / kind, paths)
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
