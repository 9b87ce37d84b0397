"""Grade a whole class: ``python -m grader SUBMISSIONS_DIR [--out DIR] [--workers N] [--sandbox none]``.

``SUBMISSIONS_DIR`` holds one folder per learner with their lesson notebooks, in any layout (nested
folders, extra files and missing lessons are fine). Each learner is graded in a worker process of
their own (one per core by default; with fewer learners than workers, each learner's lessons are split
across the spare workers) with :class:`grader.notebook.NotebookGrader`, the same code as
``pytest exercises_tests``; each of their kernels runs in a bubblewrap sandbox (:mod:`grader.sandbox`)
unless ``--sandbox none``. The lessons come from the manifest ``labkit/exercises/lessons.json``.
After every worker and sandbox is gone, writes (each file atomically) into ``--out``:

* ``grades.csv``: one row per learner, a column per exercise (points), total, maximum, percentage;
* ``points.json``: each exercise column's lesson notebook and maximum (``python -m grader export`` reads it);
* ``feedback/<learner>.md``: per exercise, passed or not, points, and the message for the learner;
* ``junit/<learner>.xml``: one test case per check, for tools that read JUnit XML;
* ``logs/<learner>.log``: what the learner's kernels printed to the terminal;

and prints a summary: mean, median, each exercise's pass rate, the hardest exercises.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import statistics
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from labkit.checks import FAILED, MARKS, PASSED, Exercise, exercises
from .notebook import NotebookGrader, hidden_dir_from_env, lesson_notebooks, load_hidden_checks, snapshot_sources
from .sandbox import Limits, SandboxMissing, learner_course, require_sandbox, sandbox_uid

__all__ = ["LearnerGrade", "grade_class", "find_notebook", "choose_notebook", "main"]

ROOT = Path(__file__).resolve().parent.parent
NOT_GRADED = "not graded"
_SKIP_PARTS = {"__MACOSX", "__pycache__"}


@dataclass
class LearnerGrade:
    """One learner's verdicts, keyed by check id, plus notes for the instructor."""

    name: str
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    notebooks: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- finding a learner's notebooks ------------------------------------------------------------
def _notebooks(folder: Path, pattern: str) -> list[Path]:
    """Notebooks under ``folder`` that really are in it: no checkpoints, no symlinks (to solutions/, say)."""
    inside = folder.resolve()
    return [p for p in folder.rglob(pattern)
            if not any(part.startswith(".") or part in _SKIP_PARTS for part in p.relative_to(folder).parts)
            and not any(q.is_symlink() for q in [p, *p.parents] if q.is_relative_to(folder) and q != folder)
            and p.resolve().is_relative_to(inside) and p.is_file()]


def find_notebook(folder: Path, name: str) -> Path | None:
    """The learner's copy of notebook ``name`` anywhere under ``folder`` (same name first, then same lesson)."""
    found = _notebooks(folder, "*.ipynb")

    def rank(p: Path) -> tuple[int, float]:
        return (len(p.relative_to(folder).parts), -p.stat().st_mtime)

    for match in ([p for p in found if p.name == name], [p for p in found if p.name.startswith(name[:3])]):
        if match:
            return sorted(match, key=rank)[0]
    return None


def _attempted(path: Path, course: set[str]) -> int:
    """How many code cells of ``path`` differ from the course's own (0: an untouched copy, or unreadable)."""
    try:
        nb = nbformat.read(path, as_version=4)
        return sum(1 for c in nb.cells if c.get("cell_type") == "code" and c.source.strip() not in course)
    except Exception:  # noqa: BLE001 - an unreadable file has attempted nothing we can grade
        return 0


def choose_notebook(folder: Path, name: str, course: Path | None = None) -> tuple[Path | None, str | None]:
    """The learner's notebook for lesson ``name``, and a warning when several match (the attempted one wins)."""
    found = _notebooks(folder, name[:3] + "*.ipynb")
    best = find_notebook(folder, name)
    if len(found) < 2 or best is None:
        return best, None
    course = course or ROOT / "notebooks" / name
    ours = ({c.source.strip() for c in nbformat.read(course, as_version=4).cells if c.get("cell_type") == "code"}
            if course.exists() else set())
    tried = {p: _attempted(p, ours) for p in found}
    if tried[best] < max(tried.values()):
        best = max(found, key=lambda p: (tried[p], p == best, -len(p.parts)))
    others = ", ".join(f"`{p.relative_to(folder)}`" for p in sorted(found) if p != best)
    return best, (f"{len(found)} notebooks match lesson {name[:2]}: graded `{best.relative_to(folder)}` "
                  f"(the one with most cells of your own: {tried[best]}), not {others}")


def _course_fingerprint(folders: Sequence[Path]) -> dict[str, str]:
    """Hashes of the course files a submission must not change (checks, tests, solutions)."""
    prints = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                # (a `myshelf/` folder is what running a lesson writes, not a course file: it is git-ignored)
                if (path.is_file() and path.suffix in {".py", ".ipynb"} and "__pycache__" not in path.parts
                        and "myshelf" not in path.relative_to(folder).parts):
                    prints[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return prints


# -- the worker: one learner, in its own process ----------------------------------------------
def _grade_learner(folder: str, plan: list[tuple[str, list[str]]], cell_timeout: float,
                   sources: dict[str, str], hidden: str | None, results: str, log: str,
                   sandbox: Limits | None = None, slot: int = 0) -> None:
    """Grade every check of ``plan`` ([(notebook name, [check ids])]); append one JSON line per verdict."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # a learner's parts share it
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = sys.stdout
    if hidden and multiprocessing.get_start_method() != "fork":
        load_hidden_checks(hidden)
    with open(results, "a", encoding="utf-8") as out:
        def emit(**record: Any) -> None:
            out.write(json.dumps(record) + "\n")
            out.flush()

        for name, ids in plan:
            path, warning = choose_notebook(Path(folder), name)
            emit(kind="notebook", name=name, path=str(path.relative_to(folder)) if path else None)
            if warning:
                emit(kind="note", text=warning)
            if path is None:
                for ex_id in ids:
                    emit(kind="verdict", id=ex_id, status="missing",
                         message=f"{name} is not in the submission (no notebook of lesson {name[:2]} found)")
                continue
            with NotebookGrader(path, cell_timeout=cell_timeout, sources=sources, sandbox=sandbox,
                                uid=sandbox_uid(slot), workroot=Path(results).parent) as grader:
                if grader.setup_errors:
                    emit(kind="note", text=f"{name}: a Setup cell failed: " + "; ".join(grader.setup_errors))
                for ex_id in ids:
                    r = grader.grade(ex_id)
                    emit(kind="verdict", id=ex_id, status=r.status, message=r.message)
                for note in dict.fromkeys(grader.notes):
                    emit(kind="note", text=note)


def _kill_tree(pid: int) -> None:
    """Kill a worker and everything it started (its kernels, anything they started)."""
    try:
        import psutil

        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except Exception:  # noqa: BLE001 - already gone
        return
    for proc in procs:
        try:
            proc.kill()
        except Exception:  # noqa: BLE001
            pass


# -- the class run ----------------------------------------------------------------------------
def _parts(plan: list[tuple[str, list[str]]], learners: int, workers: int) -> list[list[tuple[str, list[str]]]]:
    """A learner's lessons in as many parts as there are workers to spare (lessons dealt out in turn).

    A class with at least as many learners as workers keeps one part per learner; one submission (or a few) on
    a machine with more cores is graded a part per core, so its lessons run side by side.
    """
    count = max(1, min(len(plan), workers // max(1, learners)))
    return [plan[i::count] for i in range(count)]


def _merge(into: LearnerGrade | None, part: LearnerGrade) -> LearnerGrade:
    """One learner's grade from the grades of their parts."""
    if into is None:
        return part
    into.verdicts.update(part.verdicts)
    into.notebooks.update(part.notebooks)
    into.notes.extend(n for n in part.notes if n not in into.notes)
    return into


def _plan(lessons: Sequence[str] | None = None) -> tuple[list[tuple[str, list[str]]], dict[str, Exercise]]:
    """[(notebook name, [check ids])] for every lesson of the manifest with checks; and every check by id."""
    by_id = {e.id: e for e in exercises()}
    plan = []
    for lesson, name in lesson_notebooks().items():
        if lessons and lesson not in lessons:
            continue
        ids = [e.id for e in exercises(lesson)]
        if ids:
            plan.append((name, ids))
    return plan, by_id


def grade_class(submissions: Path, out: Path, *, workers: int | None = None, cell_timeout: float = 60.0,
                learner_timeout: float = 900.0, hidden: Path | None = None, lessons: Sequence[str] | None = None,
                progress: bool = True, sandbox: Limits | None = Limits()) -> list[LearnerGrade]:
    """Grade every learner folder in ``submissions``; write grades, feedback and JUnit XML into ``out``.

    ``sandbox=None`` grades without a sandbox: only for submissions you trust.
    """
    if sandbox is not None:
        require_sandbox()
    hidden_checks = load_hidden_checks(hidden)
    plan, by_id = _plan(lessons)
    sources = snapshot_sources()  # before any learner code runs
    watched = [ROOT / "labkit", ROOT / "grader", ROOT / "exercises_tests", ROOT / "solutions"] + ([hidden] if hidden else [])
    fingerprint = _course_fingerprint(watched)
    learners = sorted(p for p in submissions.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and p.name not in _SKIP_PARTS)
    for sub in ("feedback", "junit", "logs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="grader-results-"))  # the workers' verdicts, never in a sandbox
    workers = max(1, workers or os.cpu_count() or 1)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)  # fork: workers reuse the grader's code already in memory

    bar = None
    if progress:
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread: the parent stays single-threaded for fork
        bar = tqdm(total=len(learners), unit="learner", desc="grading", file=sys.stderr)

    if sandbox is not None:
        learner_course()  # the learner release the sandboxes mount: written once, before the workers fork
    parts = _parts(plan, len(learners), workers)
    grades: dict[str, LearnerGrade] = {}
    began: dict[str, float] = {}
    left = {p.name: len(parts) for p in learners}
    pending = [(folder, i) for folder in learners for i in range(len(parts))]
    for folder in learners:
        (out / "logs" / f"{folder.name}.log").write_bytes(b"")
    running: dict[tuple[str, int], tuple[Any, float, int]] = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                folder, part = pending.pop(0)
                slot = min(set(range(workers)) - {r[2] for r in running.values()})  # its sandbox's user id
                proc = ctx.Process(target=_grade_learner, daemon=False, args=(
                    str(folder), parts[part], cell_timeout, sources, str(hidden) if hidden else None,
                    str(scratch / f"{folder.name}.{part}.jsonl"), str(out / "logs" / f"{folder.name}.log"),
                    sandbox, slot))
                proc.start()
                began.setdefault(folder.name, time.monotonic())
                running[(folder.name, part)] = (proc, time.monotonic() + learner_timeout, slot)
            time.sleep(0.05)
            for (name, part), (proc, deadline, _) in list(running.items()):
                killed = False
                if proc.is_alive():
                    if time.monotonic() < deadline:
                        continue
                    _kill_tree(proc.pid)
                    killed = True
                proc.join()  # its sandboxes die with it (bwrap --die-with-parent)
                del running[(name, part)]
                grade = _merge(grades.get(name), _collect(name, scratch / f"{name}.{part}.jsonl", parts[part],
                                                         proc.exitcode, killed, learner_timeout))
                grade.seconds = time.monotonic() - began[name]
                changed = sorted(k for k, v in _course_fingerprint(watched).items() if fingerprint.get(k) != v)
                changed += sorted(k for k in fingerprint if not Path(k).exists())
                if changed:
                    grade.notes.append("INTEGRITY: course files changed while this submission was being graded: "
                                       + ", ".join(changed) + ". Restore them (git) and grade in the sandbox.")
                    fingerprint = _course_fingerprint(watched)
                grades[name] = grade
                left[name] -= 1
                if bar is not None and not left[name]:
                    bar.update(1)
    finally:
        for proc, *_ in running.values():
            _kill_tree(proc.pid)
        shutil.rmtree(scratch, ignore_errors=True)
    if bar is not None:
        bar.close()
    ordered = [grades[p.name] for p in learners]
    _write_outputs(ordered, plan, by_id, out)
    ignored = sorted(p.name for p in submissions.iterdir() if p.is_file())
    print(summary(ordered, plan, by_id, ignored=ignored, hidden=[e.id for e in hidden_checks]))
    return ordered


def _printable(text: str) -> str:
    """``text`` without control characters (they break XML and terminals), newlines and tabs kept."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "\N{REPLACEMENT CHARACTER}", text)


def _collect(name: str, results: Path, plan: list[tuple[str, list[str]]], exitcode: int | None,
             killed: bool, learner_timeout: float) -> LearnerGrade:
    grade = LearnerGrade(name)
    lines = results.read_text(encoding="utf-8").splitlines() if results.exists() else []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short when the worker was killed
        if record.get("kind") == "verdict":
            grade.verdicts[record["id"]] = {"status": record["status"], "message": _printable(record["message"])}
        elif record.get("kind") == "notebook" and record.get("path"):
            grade.notebooks[record["name"]] = record["path"]
        elif record.get("kind") == "note":
            grade.notes.append(record["text"])
    if killed:
        why = (f"grading stopped: this submission used up its {learner_timeout:g} s time limit "
               f"before this check ran")
        grade.notes.append(f"stopped after {learner_timeout:g} s; the checks not reached are marked '{NOT_GRADED}'")
    else:
        why = f"grading stopped: the grader's worker exited with code {exitcode} (see logs/{name}.log)"
    for _, ids in plan:
        for ex_id in ids:
            grade.verdicts.setdefault(ex_id, {"status": NOT_GRADED, "message": why})
    return grade


# -- reports ----------------------------------------------------------------------------------
def _columns(plan: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
    """Exercise column -> its check ids (a hidden check ``00.greet:x`` adds to column ``00.greet``)."""
    cols: dict[str, list[str]] = {}
    for _, ids in plan:
        for ex_id in ids:
            cols.setdefault(ex_id.split(":")[0], []).append(ex_id)
    return cols


def _points(grade: LearnerGrade, ex_id: str, by_id: dict[str, Exercise]) -> int:
    return by_id[ex_id].points if grade.verdicts[ex_id]["status"] == PASSED else 0


def _totals(grade: LearnerGrade, by_id: dict[str, Exercise]) -> tuple[int, int]:
    return (sum(_points(grade, i, by_id) for i in grade.verdicts),
            sum(by_id[i].points for i in grade.verdicts))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_outputs(grades: list[LearnerGrade], plan: list[tuple[str, list[str]]],
                   by_id: dict[str, Exercise], out: Path) -> None:
    cols = _columns(plan)
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["learner", *cols, "total", "max", "percent", "notes"])
    for g in grades:
        total, most = _totals(g, by_id)
        row = [sum(_points(g, i, by_id) for i in ids) for ids in cols.values()]
        writer.writerow([g.name, *row, total, most, f"{100 * total / most:.1f}" if most else "", " | ".join(g.notes)])
    for g in grades:
        _atomic_write(out / "feedback" / f"{g.name}.md", feedback(g, plan, by_id).encode("utf-8"))
        _atomic_write(out / "junit" / f"{g.name}.xml",
                      ET.tostring(junit(g, plan, by_id), encoding="utf-8", xml_declaration=True))
    maxima = {col: {"notebook": name, "max": sum(by_id[i].points for i in ids)}
              for name, lesson_ids in plan for col, ids in _columns([(name, lesson_ids)]).items()}
    _atomic_write(out / "points.json", (json.dumps({"columns": maxima}, indent=1) + "\n").encode("utf-8"))
    _atomic_write(out / "grades.csv", table.getvalue().encode("utf-8"))


# Text marks every common font draws (an emoji font is not there on many servers and terminals).
_ICON = {**MARKS, NOT_GRADED: "–"}


def feedback(g: LearnerGrade, plan: list[tuple[str, list[str]]], by_id: dict[str, Exercise]) -> str:
    """The Markdown feedback for one learner."""
    total, most = _totals(g, by_id)
    lines = [f"# Feedback for {g.name}", "", f"**Score: {total} / {most}**"
             + (f" ({100 * total / most:.0f}%)" if most else ""), ""]
    for name, ids in plan:
        where = g.notebooks.get(name)
        lines += [f"## {name}", "", f"Graded file: `{where}`" if where else "Not found in your submission.", "",
                  "| | exercise | points | result |", "| --- | --- | --- | --- |"]
        for ex_id in ids:
            v = g.verdicts[ex_id]
            label = ex_id + (" (hidden test)" if ":" in ex_id else "")
            text = v["status"] + (f": {v['message']}" if v["message"] else "")
            text = text.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {_ICON.get(v['status'], MARKS[FAILED])} | `{label}` | {_points(g, ex_id, by_id)} / "
                         f"{by_id[ex_id].points} | {text} |")
        lines.append("")
    if g.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in g.notes] + [""]
    return "\n".join(lines)


def junit(g: LearnerGrade, plan: list[tuple[str, list[str]]], by_id: dict[str, Exercise]) -> ET.Element:
    """JUnit XML for one learner: a test case per check; failures carry the learner-facing message."""
    total, most = _totals(g, by_id)
    failed = sum(1 for v in g.verdicts.values() if v["status"] != PASSED)
    suite = ET.Element("testsuite", name=g.name, tests=str(len(g.verdicts)), failures=str(failed),
                       errors="0", skipped="0", time=f"{g.seconds:.2f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="points", value=str(total))
    ET.SubElement(props, "property", name="max_points", value=str(most))
    for name, ids in plan:
        for ex_id in ids:
            v = g.verdicts[ex_id]
            case = ET.SubElement(suite, "testcase", classname=name.removesuffix(".ipynb"), name=ex_id)
            if v["status"] != PASSED:
                fail = ET.SubElement(case, "failure", message=f"{ex_id} {v['status']}: {v['message']}",
                                     type=v["status"])
                fail.text = v["message"]
    return suite


def summary(grades: list[LearnerGrade], plan: list[tuple[str, list[str]]], by_id: dict[str, Exercise],
            ignored: Sequence[str] = (), hidden: Sequence[str] = ()) -> str:
    """The text printed at the end of a class run."""
    if not grades:
        return "no learner folders found"
    percents = [100 * t / m if m else 0.0 for t, m in (_totals(g, by_id) for g in grades)]
    lines = [f"graded {len(grades)} learners" + (f" (with {len(hidden)} hidden checks)" if hidden else ""),
             f"score: mean {statistics.mean(percents):.1f}%, median {statistics.median(percents):.1f}%, "
             f"min {min(percents):.1f}%, max {max(percents):.1f}%", "", "exercise pass rates (full points):"]
    rates = {}
    for col, ids in _columns(plan).items():
        full = sum(1 for g in grades if all(g.verdicts[i]["status"] == PASSED for i in ids))
        rates[col] = full / len(grades)
        lines.append(f"  {col:<32} {100 * rates[col]:5.1f}%")
    hardest = sorted(rates, key=lambda c: rates[c])[:3]
    lines += ["", "hardest: " + ", ".join(f"{c} ({100 * rates[c]:.0f}%)" for c in hardest)]
    flagged = [g.name for g in grades if any(n.startswith("INTEGRITY") for n in g.notes)]
    stopped = [g.name for g in grades if any(v["status"] == NOT_GRADED for v in g.verdicts.values())]
    if stopped:
        lines.append(f"not fully graded (time limit or crash): {', '.join(stopped)}")
    if flagged:
        lines.append(f"WARNING: course files changed while grading {', '.join(flagged)}: see grades.csv notes")
    if ignored:
        lines.append(f"ignored (not learner folders): {', '.join(ignored)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder with one subfolder per learner")
    parser.add_argument("--out", type=Path, default=Path("grading_results"),
                        help="where to write grades.csv, feedback/, junit/, logs/ (default: ./grading_results)")
    parser.add_argument("--workers", type=int, default=None, help="learners graded at once (default: one per core)")
    parser.add_argument("--cell-timeout", type=float, default=60.0,
                        help="seconds a learner's cell may run before it is interrupted (default: 60)")
    parser.add_argument("--learner-timeout", type=float, default=900.0,
                        help="seconds for one learner's whole submission; then it is stopped (default: 900)")
    parser.add_argument("--hidden", type=Path, default=hidden_dir_from_env(),
                        help="folder of hidden checks (default: $LABKIT_HIDDEN)")
    parser.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap",
                        help="bwrap (default): each learner's kernels in a bubblewrap sandbox; none: no sandbox, "
                             "for submissions you trust (their code can then read and change anything you can)")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                        help=f"memory per process in the sandbox (default: {Limits.memory_mb})")
    parser.add_argument("--lessons", nargs="+", metavar="NN", default=None,
                        help="grade only these lessons, e.g. --lessons 00 01 (default: every lesson)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    if args.sandbox == "none":
        print("WARNING: --sandbox none: learners' code runs with your permissions, can read the hidden checks and "
              "solutions, use the network and outlive the grader; sealed checks still run out of its reach",
              file=sys.stderr)
    try:
        grade_class(args.submissions, args.out, workers=args.workers, cell_timeout=args.cell_timeout,
                    learner_timeout=args.learner_timeout, hidden=args.hidden,
                    sandbox=Limits(memory_mb=args.memory_mb) if args.sandbox == "bwrap" else None,
                    lessons=args.lessons, progress=not args.no_progress)
    except SandboxMissing as exc:
        parser.exit(2, f"python -m grader: error: {exc}\n")
    print(f"\nwrote {args.out / 'grades.csv'}, {args.out / 'feedback'}/, {args.out / 'junit'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
