"""Pacing: how long a learner reads between two things they do, and how long a lesson takes.

A lesson is a sequence of cells. *Activity* cells are the ones where the learner does something:

* an exercise (tag ``exercise:<id>``) or its self-check (tag ``check:<id>``),
* a predict-then-run question (tag ``predict``; the cell calls ``labkit.ask(...)``),
* a modify-and-rerun step (tag ``try``; the cell says what to change, and the learner runs it again).

Everything else is reading. Cells tagged ``optional`` (depth a learner may skip: internals, extra
benchmarks, measurement plumbing; their heading says "Optional") count towards the lesson's time but not
towards a stretch. Reading time is estimated from words: prose at 200 words a minute, code at
100 (code is read more slowly; outputs are not counted). A *stretch* is the reading between two activities
(or before the first, or after the last). The course's bound: no stretch longer than
:data:`MAX_STRETCH_MINUTES`, except the closing stretch after the last activity, which holds key points
and links only and must stay under :data:`MAX_CLOSING_MINUTES`.

A lesson's stated time is reading time plus activity time: :data:`MINUTES_PER_EXERCISE` per exercise,
:data:`MINUTES_PER_PREDICT` per question, :data:`MINUTES_PER_TRY` per modify-and-rerun step.

``python -m authoring.pacing`` prints every lesson's stretches and estimate; ``--check`` exits 1 when a
lesson breaks the bound.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["Stretch", "LessonPace", "pace", "activity_kind", "MAX_STRETCH_MINUTES"]

PROSE_WPM = 200
CODE_WPM = 100
MAX_STRETCH_MINUTES = 15.0
MAX_CLOSING_MINUTES = 5.0
MINUTES_PER_EXERCISE = 8
MINUTES_PER_PREDICT = 1
MINUTES_PER_TRY = 2

WORD = re.compile(r"[A-Za-z0-9_]+")
ROOT = Path(__file__).resolve().parent.parent


def activity_kind(cell: nbformat.NotebookNode) -> str | None:
    """``"exercise"``, ``"check"``, ``"predict"``, ``"try"``, or None for a reading cell."""
    for tag in cell.get("metadata", {}).get("tags", []):
        head = tag.split(":", 1)[0]
        if head in ("exercise", "check", "predict", "try"):
            return head
    return None


def reading_minutes(cell: nbformat.NotebookNode) -> float:
    words = len(WORD.findall(cell.source))
    return words / (CODE_WPM if cell.cell_type == "code" else PROSE_WPM)


@dataclass(frozen=True)
class Stretch:
    """Reading between two activities: cell indices [start, end) and its minutes."""

    start: int
    end: int
    minutes: float
    closing: bool


@dataclass(frozen=True)
class LessonPace:
    name: str
    stretches: tuple[Stretch, ...]
    exercises: int
    predicts: int
    tries: int
    optional: float = 0.0

    @property
    def reading(self) -> float:
        return sum(s.minutes for s in self.stretches) + self.optional

    @property
    def estimate(self) -> int:
        """Stated time in minutes, rounded up to 5."""
        total = (self.reading + MINUTES_PER_EXERCISE * self.exercises + MINUTES_PER_PREDICT * self.predicts
                 + MINUTES_PER_TRY * self.tries)
        return int(5 * math.ceil(total / 5))

    def too_long(self) -> list[Stretch]:
        return [s for s in self.stretches
                if s.minutes > (MAX_CLOSING_MINUTES if s.closing else MAX_STRETCH_MINUTES)]


def pace(path: Path) -> LessonPace:
    nb = nbformat.read(path, as_version=4)
    stretches: list[Stretch] = []
    start, minutes, optional = 0, 0.0, 0.0
    counts = {"exercise": 0, "check": 0, "predict": 0, "try": 0}
    for index, cell in enumerate(nb.cells):
        kind = activity_kind(cell)
        if kind is None:
            if "optional" in cell.get("metadata", {}).get("tags", []):
                optional += reading_minutes(cell)
            else:
                minutes += reading_minutes(cell)
            continue
        counts[kind] += 1
        stretches.append(Stretch(start, index, round(minutes, 1), closing=False))
        start, minutes = index + 1, 0.0
    stretches.append(Stretch(start, len(nb.cells), round(minutes, 1), closing=bool(stretches)))
    return LessonPace(path.name, tuple(stretches), counts["exercise"], counts["predict"], counts["try"],
                      round(optional, 1))


def lesson_paths(folder: Path = ROOT / "solutions") -> list[Path]:
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a stretch is too long")
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    bad = 0
    for path in args.paths or lesson_paths():
        lesson = pace(path)
        longest = max(lesson.stretches, key=lambda s: s.minutes)
        print(f"{lesson.name}: estimate {lesson.estimate} min (reading {lesson.reading:.0f}, "
              f"{lesson.exercises} exercises, {lesson.predicts} predictions, {lesson.tries} try steps); "
              f"longest stretch {longest.minutes:.1f} min (cells {longest.start}-{longest.end - 1})")
        for s in lesson.too_long():
            bad += 1
            print(f"  TOO LONG: cells {s.start}-{s.end - 1}: {s.minutes:.1f} min of reading"
                  + (" after the last activity" if s.closing else ""))
    return 1 if (args.check and bad) else 0


if __name__ == "__main__":
    sys.exit(main())
