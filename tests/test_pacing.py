"""Pacing: no lesson reads for longer than the bound between two things the learner does, and each lesson's
stated time agrees with the measured estimate (authoring.pacing)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from authoring import pacing
from authoring.pacing import MAX_CLOSING_MINUTES, MAX_STRETCH_MINUTES, pace

ROOT = Path(__file__).resolve().parent.parent
LESSONS = pacing.lesson_paths(ROOT / "solutions")
TOLERANCE = 0.25


def stated_minutes(path: Path) -> int:
    """The minutes the lesson's objectives box states: the sum of the numbers in its **Time** row."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "**Objectives**" in cell.source:
            row = re.search(r"^\|\s*\*\*Time\*\*\s*\|(.*)$", cell.source, re.M)
            assert row, f"{path.name}: the objectives box has no **Time** row"
            minutes = [int(m) for m in re.findall(r"(\d+)\s*min", row.group(1))]
            assert minutes, f"{path.name}: the **Time** row states no minutes: {row.group(1)!r}"
            return sum(minutes)
    raise AssertionError(f"{path.name}: no objectives box")


def test_every_lesson_is_covered():
    assert len(LESSONS) >= 10 and LESSONS[0].name.startswith("00_")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_no_reading_stretch_is_longer_than_the_bound(path):
    lesson = pace(path)
    too_long = [f"cells {s.start}-{s.end - 1}: {s.minutes:.1f} min" + (" (closing)" if s.closing else "")
                for s in lesson.too_long()]
    assert not too_long, (f"{path.name}: reading stretches over {MAX_STRETCH_MINUTES:g} min "
                          f"({MAX_CLOSING_MINUTES:g} after the last activity): {too_long}")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_the_stated_time_matches_the_estimate(path):
    stated, estimate = stated_minutes(path), pace(path).estimate
    assert abs(stated - estimate) <= TOLERANCE * estimate, (
        f"{path.name}: the objectives box states {stated} min, the estimate is {estimate} min "
        f"(allowed: {estimate * (1 - TOLERANCE):.0f}-{estimate * (1 + TOLERANCE):.0f})")


# -- pacing itself, on small made-up lessons -----------------------------------------------------------

def words(minutes: float, wpm: int = pacing.PROSE_WPM) -> str:
    return " ".join(["word"] * round(minutes * wpm))


def notebook(tmp_path: Path, *cells: tuple[str, str, list[str]]) -> Path:
    """A lesson from ``(kind, source, tags)`` cells; kind is "md" or "code"."""
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    path = tmp_path / "99_made_up.ipynb"
    nbformat.write(nb, path)
    return path


def test_reading_time_counts_words_prose_and_code_at_their_speeds(tmp_path):
    path = notebook(tmp_path, ("md", words(2), []), ("code", words(1, pacing.CODE_WPM), []))
    (only,) = pace(path).stretches
    assert only.minutes == pytest.approx(3.0) and (only.start, only.end) == (0, 2) and not only.closing


def test_each_kind_of_activity_splits_the_reading(tmp_path):
    path = notebook(tmp_path,
                    ("md", words(4), []), ("code", "x = 1", ["exercise:99.a"]),
                    ("md", words(3), []), ("code", "check('99.a')", ["check:99.a"]),
                    ("md", words(2), []), ("code", "ask('99.q')", ["predict"]),
                    ("md", words(1), []), ("code", "run(n=2)", ["try"]),
                    ("md", words(0.5), []))
    lesson = pace(path)
    assert [s.minutes for s in lesson.stretches] == [4.0, 3.0, 2.0, 1.0, 0.5]
    assert [(s.start, s.end) for s in lesson.stretches] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert [s.closing for s in lesson.stretches] == [False, False, False, False, True]
    assert (lesson.exercises, lesson.predicts, lesson.tries) == (1, 1, 1)


def test_an_optional_cell_does_not_count_towards_a_stretch_but_towards_the_time(tmp_path):
    path = notebook(tmp_path, ("md", words(10), []), ("md", words(12), ["optional"]), ("md", words(4), []),
                    ("code", "x = 1", ["exercise:99.a"]), ("md", words(1), []))
    lesson = pace(path)
    assert lesson.stretches[0].minutes == pytest.approx(14.0)
    assert not lesson.too_long()
    assert lesson.reading == pytest.approx(27.0)
    without = notebook(tmp_path, ("md", words(10), []), ("md", words(12), []), ("md", words(4), []),
                       ("code", "x = 1", ["exercise:99.a"]), ("md", words(1), []))
    assert [s.minutes for s in pace(without).too_long()] == [26.0]


def test_the_closing_stretch_has_its_own_shorter_bound(tmp_path):
    closing = MAX_CLOSING_MINUTES + 1
    assert closing < MAX_STRETCH_MINUTES
    path = notebook(tmp_path, ("md", words(2), []), ("code", "x = 1", ["exercise:99.a"]), ("md", words(closing), []))
    (long,) = pace(path).too_long()
    assert long.closing and long.minutes == pytest.approx(closing)
    short = notebook(tmp_path, ("md", words(2), []), ("code", "x = 1", ["exercise:99.a"]),
                     ("md", words(MAX_CLOSING_MINUTES - 1), []))
    assert not pace(short).too_long()
    # A lesson without any activity has no "after the last activity": its one stretch has the main bound.
    (alone,) = pace(notebook(tmp_path, ("md", words(closing), []))).stretches
    assert not alone.closing


def test_the_estimate_adds_activity_time_and_rounds_up_to_five(tmp_path):
    path = notebook(tmp_path, ("md", words(6), []), ("code", "x = 1", ["exercise:99.a"]),
                    ("code", "check('99.a')", ["check:99.a"]), ("code", "ask('99.q')", ["predict"]),
                    ("code", "run(n=2)", ["try"]))
    lesson = pace(path)
    total = 6 + pacing.MINUTES_PER_EXERCISE + pacing.MINUTES_PER_PREDICT + pacing.MINUTES_PER_TRY
    assert lesson.estimate == 5 * -(-total // 5) and lesson.estimate % 5 == 0 and lesson.estimate >= total


def test_the_stated_time_is_read_from_the_objectives_box(tmp_path):
    path = notebook(tmp_path, ("md", "| | |\n|---|---|\n| **Objectives** | learn |\n"
                                     "| **Time** | 20 min teaching, 15 min exercises |", []))
    assert stated_minutes(path) == 35
