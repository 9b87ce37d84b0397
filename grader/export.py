"""Export the gradebook for a learning platform: ``python -m grader export RESULTS --format canvas|gradescope``.

Reads what ``python -m grader`` wrote in ``RESULTS`` (``grades.csv``, ``points.json``) and writes one CSV:

* ``canvas``: Canvas's gradebook import layout: the columns ``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per lesson (its points; the name is the lesson's notebook,
  e.g. ``00_welcome``, which Canvas creates as an assignment on import), a ``Points Possible`` row under the
  header, then one row per learner.
* ``gradescope``: one row per learner with ``Name``, ``Email``, ``SID``, one column per exercise
  (``01.fetch_all``: its points, hidden checks included) and ``Total Score``, for Gradescope's score upload,
  which matches learners by email or student id and reads one score column per question.

A learner is known to the platform by their email or student id, not by the folder name the grader saw:
``--roster FILE`` is a CSV with a ``learner`` column (the folder names) and any of ``name``, ``email``,
``sid``, ``canvas_id``, ``sis_user_id``, ``sis_login_id``, ``section``. Without it, or for a learner missing
from it, the folder name fills ``Student`` / ``Name`` and ``SIS Login ID`` and the rest stays empty (and the
export says who is missing).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["FORMATS", "read_results", "read_roster", "canvas_rows", "gradescope_rows", "export", "main"]

FORMATS = ("canvas", "gradescope")
ROSTER_FIELDS = ("name", "email", "sid", "canvas_id", "sis_user_id", "sis_login_id", "section")
_FIXED = {"learner", "total", "max", "percent", "notes"}


def read_results(results: Path) -> tuple[list[dict[str, str]], dict[str, dict[str, object]]]:
    """The rows of ``grades.csv`` and each exercise column's notebook and maximum (``points.json``)."""
    grades = results / "grades.csv"
    points = results / "points.json"
    for needed in (grades, points):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} not found: give the folder `python -m grader ... --out` wrote")
    with open(grades, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = json.loads(points.read_text(encoding="utf-8"))["columns"]
    header = [c for c in (rows[0] if rows else {}) if c not in _FIXED]
    unknown = [c for c in header if c not in columns]
    if unknown:
        raise ValueError(f"{grades} has columns {unknown} that {points} does not describe: grade again")
    return rows, columns


def read_roster(path: Path | None) -> dict[str, dict[str, str]]:
    """``{learner folder: {field: value}}`` from a roster CSV (see the module's docstring)."""
    if path is None:
        return {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fields = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
        if "learner" not in fields:
            raise ValueError(f"{path} needs a `learner` column (the learners' folder names); it has "
                             f"{list(reader.fieldnames or [])}")
        return {row[fields["learner"]].strip(): {k: (row[fields[k]] or "").strip() for k in ROSTER_FIELDS
                                                 if k in fields} for row in reader}


def _lessons(columns: dict[str, dict[str, object]]) -> dict[str, list[str]]:
    """Lesson name (the notebook without ``.ipynb``) -> its exercise columns, in order."""
    lessons: dict[str, list[str]] = {}
    for col, info in columns.items():
        lessons.setdefault(str(info["notebook"]).removesuffix(".ipynb"), []).append(col)
    return lessons


def _points(value: str) -> int:
    return int(float(value or 0))


def canvas_rows(rows: list[dict[str, str]], columns: dict[str, dict[str, object]],
                roster: dict[str, dict[str, str]]) -> list[list[str]]:
    """Canvas's gradebook import: header, ``Points Possible`` row, one row per learner (points per lesson)."""
    lessons = _lessons(columns)
    table = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *lessons],
             ["    Points Possible", "", "", "", "",
              *(str(sum(int(columns[c]["max"]) for c in cols)) for cols in lessons.values())]]  # type: ignore[call-overload]
    for row in rows:
        who = roster.get(row["learner"], {})
        table.append([who.get("name") or row["learner"], who.get("canvas_id", ""), who.get("sis_user_id", ""),
                      who.get("sis_login_id") or (row["learner"] if not who else ""), who.get("section", ""),
                      *(str(sum(_points(row[c]) for c in cols)) for cols in lessons.values())])
    return table


def gradescope_rows(rows: list[dict[str, str]], columns: dict[str, dict[str, object]],
                    roster: dict[str, dict[str, str]]) -> list[list[str]]:
    """Gradescope's score upload: ``Name``, ``Email``, ``SID``, a column per exercise, ``Total Score``."""
    table = [["Name", "Email", "SID", *columns, "Total Score"]]
    for row in rows:
        who = roster.get(row["learner"], {})
        scores = [_points(row[c]) for c in columns]
        table.append([who.get("name") or row["learner"], who.get("email", ""), who.get("sid", ""),
                      *map(str, scores), str(sum(scores))])
    return table


def export(results: Path, fmt: str, out: Path | None = None, roster: Path | None = None) -> tuple[Path, list[str]]:
    """Write the ``fmt`` export of ``results``; return its path and the learners missing from the roster."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    rows, columns = read_results(results)
    known = read_roster(roster)
    table = (canvas_rows if fmt == "canvas" else gradescope_rows)(rows, columns, known)
    text = io.StringIO(newline="")
    csv.writer(text).writerows(table)
    out = out or results / f"{fmt}.csv"
    out.write_text(text.getvalue(), encoding="utf-8", newline="")
    missing = [r["learner"] for r in rows if r["learner"] not in known] if roster is not None else []
    return out, missing


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (``python -m grader export``)."""
    parser = argparse.ArgumentParser(prog="python -m grader export", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the folder python -m grader wrote (--out)")
    parser.add_argument("--format", choices=FORMATS, required=True, help="the learning platform's layout")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV: learner (folder name), and name, email, sid, canvas_id, sis_user_id, "
                             "sis_login_id, section")
    parser.add_argument("--out", type=Path, default=None, help="the CSV to write (default: RESULTS/FORMAT.csv)")
    args = parser.parse_args(argv)
    try:
        out, missing = export(args.results, args.format, args.out, args.roster)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        parser.exit(2, f"python -m grader export: error: {exc}\n")
    print(f"wrote {out}")
    if missing:
        print(f"not in the roster (exported under their folder name): {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
