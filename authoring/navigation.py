"""Course navigation, generated from the lessons' own titles: nav bars, the index notebook, the README map.

Each lesson's first heading reads ``# NN · Title``. From those headings this module writes:

* a ``previous | index | next`` bar at the top and bottom of every solution notebook (Markdown cells
  tagged ``nav``, replaced on every run; ``python -m authoring.editions`` copies them to ``notebooks/``),
  and the lesson's own ``**Next:** [...](...)`` line pointed at the lesson that follows it;
* ``solutions/index.ipynb``, the course index (also copied to ``notebooks/`` by the editions generator);
* the README's Binder badge and course map (lesson, what you build, time, launch link), between the
  ``<!-- course-map:start -->`` / ``<!-- course-map:end -->`` markers (and the ``binder-badge`` ones).

    python -m authoring.navigation            # write them, then run `python -m authoring.editions`
    python -m authoring.navigation --check    # exit 1 (and say which) if any of them is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat

from .editions import ROOT, _dump, strip_outputs

__all__ = ["Lesson", "lessons", "nav_markdown", "index_notebook", "course_map", "plan", "build", "stale",
           "binder_url", "retarget_next", "with_nav", "BINDER_REPO", "INDEX"]

#: GitHub ``owner/name`` that the Binder badge and launch links point to: change it for a fork.
BINDER_REPO = "async-api-course/async-api-course"
INDEX = "index.ipynb"
NAV_TAG = "nav"
LESSON_FILE = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")
TITLE = re.compile(r"^#\s+(\d{2})\s*[·:\-–—]\s*(.+?)\s*$", re.M)
BUILDS = re.compile(r"^\*\*What you build[^*]*\*\*\s*(.+?)\s*(?:\n\s*\n|\Z)", re.M | re.S)
NEXT_LINE = re.compile(r"^\*\*Next:\*\*\s*\[[^\]]*\]\([^)]*\)", re.M)
TIME_ROW = re.compile(r"^\|\s*\**time\**\s*\|\s*([^|]+?)\s*\|", re.M | re.I)


@dataclass(frozen=True)
class Lesson:
    """One lesson, as its solution notebook describes itself."""

    number: str
    title: str
    file: str
    builds: str
    time: str

    @property
    def label(self) -> str:
        """``NN · Title``, the text of every link to the lesson."""
        return f"{self.number} · {self.title}"


def _total_time(text: str) -> str:
    minutes = [int(m) for m in re.findall(r"(\d+)\s*min", text)]
    return f"{sum(minutes)} min" if minutes else text


def _describe(path: Path) -> Lesson:
    number = LESSON_FILE.match(path.name).group(1)  # type: ignore[union-attr]
    nb = nbformat.read(path, as_version=4)
    text = "\n\n".join(c.source for c in nb.cells
                       if c.cell_type == "markdown" and NAV_TAG not in c.metadata.get("tags", []))
    title = TITLE.match(text.lstrip().split("\n", 1)[0])
    if title is None:
        raise ValueError(f"{path.name}: the first cell must start with a heading like '# {number} · Title'")
    if title.group(1) != number:
        raise ValueError(f"{path.name}: its heading says lesson {title.group(1)}, its file name says {number}")
    builds = BUILDS.search(text)
    time = TIME_ROW.search(text)
    summary = " ".join(builds.group(1).split()).rstrip(".") if builds else ""
    summary = summary[:1].upper() + summary[1:].replace("|", "\\|")
    return Lesson(number, title.group(2), path.name, summary, _total_time(time.group(1)) if time else "")


def lessons(root: Path = ROOT) -> list[Lesson]:
    """Every lesson in ``solutions/``, in order (files named ``NN_name.ipynb``)."""
    found = [_describe(p) for p in sorted((root / "solutions").glob("*.ipynb")) if LESSON_FILE.match(p.name)]
    numbers = [lesson.number for lesson in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ValueError(f"two lessons share the number(s) {duplicates}")
    return found


def binder_url(file: str, repo: str = BINDER_REPO) -> str:
    """A Binder link that opens ``notebooks/<file>`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{repo}/HEAD?labpath={quote('notebooks/' + file, safe='')}"


def nav_markdown(course: list[Lesson], position: int) -> str:
    """The ``previous | index | next`` bar for the lesson at ``position``."""
    parts = []
    if position > 0:
        before = course[position - 1]
        parts.append(f"[← {before.label}]({before.file})")
    parts.append(f"[Course index]({INDEX})")
    if position + 1 < len(course):
        after = course[position + 1]
        parts.append(f"[{after.label} →]({after.file})")
    return " | ".join(parts)


def _nav_cell(text: str, cell_id: str) -> Any:
    cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [NAV_TAG]})
    cell.id = cell_id
    return cell


def with_nav(nb: Any, text: str) -> Any:
    """``nb`` with its old ``nav`` cells removed and fresh ones at the top and bottom (in place)."""
    cells = [c for c in nb.cells if NAV_TAG not in c.metadata.get("tags", [])]
    nb.cells = [_nav_cell(text, "nav-top"), *cells, _nav_cell(text, "nav-bottom")]
    return nb


def retarget_next(nb: Any, after: Lesson | None) -> Any:
    """Point the lesson's own ``**Next:** [..](..)`` line at the lesson ``after`` it (in place).

    The last lesson's line is left as its author wrote it.
    """
    if after is None:
        return nb
    for cell in nb.cells:
        if cell.cell_type == "markdown" and NAV_TAG not in cell.metadata.get("tags", []):
            cell.source = NEXT_LINE.sub(lambda _: f"**Next:** [{after.label}]({after.file})", cell.source)
    return nb


def _table(course: list[Lesson], link_folder: str, launch: bool) -> str:
    head = "| lesson | what you build | time |" + (" launch |" if launch else "")
    rule = "| --- | --- | --- |" + (" --- |" if launch else "")
    rows = [f"| [{lesson.label}]({link_folder}{lesson.file}) | {lesson.builds} | {lesson.time} |"
            + (f" [![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(lesson.file)}) |" if launch else "")
            for lesson in course]
    return "\n".join([head, rule, *rows])


def index_notebook(course: list[Lesson]) -> Any:
    """The course index notebook: one row per lesson, linking to it."""
    text = "\n".join([
        "# Course index",
        "",
        "Async Python web APIs, built in Jupyter: the lessons in order. Each one runs on its own from top",
        "to bottom; start with its *Setup* cells (and run them again after a kernel restart).",
        "",
        _table(course, "", launch=False),
        "",
        "On Binder your work lives in a temporary session that stops after about 10 minutes without activity:",
        "use *File → Download* to keep your notebooks. Stuck? See *Troubleshooting* in the",
        "[course README](../README.md).",
    ])
    cell = nbformat.v4.new_markdown_cell(text)
    cell.id = "course-index"
    return strip_outputs(nbformat.v4.new_notebook(cells=[cell]))


def course_map(course: list[Lesson]) -> str:
    """The README's course map table (with a Binder launch link per lesson)."""
    return _table(course, "notebooks/", launch=True)


def badge(course: list[Lesson]) -> str:
    """The README's Binder badge: launches the course on its first lesson."""
    first = course[0].file if course else INDEX
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(first)})"


def _replace_between(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the markers {start} ... {end}")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text, count=1)


def plan(root: Path = ROOT, only: set[str] | None = None) -> dict[Path, str]:
    """Every file this module owns and the text it should have (``only``: lesson numbers to write)."""
    course = lessons(root)
    wanted: dict[Path, str] = {}
    for position, lesson in enumerate(course):
        if only is not None and lesson.number not in only:
            continue
        path = root / "solutions" / lesson.file
        nb = strip_outputs(nbformat.read(path, as_version=4))
        after = course[position + 1] if position + 1 < len(course) else None
        wanted[path] = _dump(with_nav(retarget_next(nb, after), nav_markdown(course, position)))
    wanted[root / "solutions" / INDEX] = _dump(index_notebook(course))
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    text = _replace_between(text, "binder-badge", badge(course))
    wanted[readme] = _replace_between(text, "course-map", course_map(course))
    return wanted


def build(root: Path = ROOT, only: set[str] | None = None) -> list[Path]:
    """Write the nav bars, the index and the README map; returns the files changed."""
    changed = []
    for path, text in plan(root, only).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(root: Path = ROOT) -> list[str]:
    """Files that :func:`build` would change, relative to ``root``."""
    return [str(path.relative_to(root)) for path, text in plan(root).items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.navigation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if anything is stale")
    parser.add_argument("--only", nargs="+", metavar="NN", help="write the nav bars of these lessons only")
    parser.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale(args.root)
            for problem in problems:
                print(f"stale: {problem}")
            if problems:
                print("run `python -m authoring.navigation`, then `python -m authoring.editions`")
            return 1 if problems else 0
        for path in build(args.root, set(args.only) if args.only else None):
            print(f"wrote {path.relative_to(args.root)}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
