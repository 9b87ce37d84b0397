"""The learner-only release: the repository learners and Binder get, with no answer anywhere in it.

    python -m authoring.release OUT          # write the release into the new folder OUT
    python -m authoring.release OUT --check  # ... and fail if any solution region's body is still in it

What is left out: ``solutions/`` (the answers), the grading tests and hidden checks, the grader, the
authors' and CI tooling, the benchmarks. What is changed: every ``### BEGIN SOLUTION`` region in the
course's Python code (the reference app ``bookshelf`` fences each exercise answer it holds) becomes the same
stub the learner notebooks have. What stays: the learner notebooks, the helper package learners import,
the data, and what Binder needs. :func:`answer_leaks` is the proof that no answer is left: it looks for the
body of every solution region of every lesson in every file of the release.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat

from .editions import BEGIN, END, MD_BLOCK, ROOT, strip_solutions

__all__ = ["LEFT_OUT", "release", "solution_regions", "answer_leaks", "main"]

LEFT_OUT = ("solutions/", "exercises_tests/", "tests/", "grader/", "authoring/", "scripts/", "benchmarks/",
            ".ci/", "INSTRUCTORS.md", "site/", ".github/workflows/site.yml")
"""Paths (folders end with ``/``) that stay with the instructors and authors."""


_NOT_COURSE = {".git", ".venv", ".venv-nbgrader", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", "myshelf", "test-artifacts",
               "grading-output", "build"}
"""Folders that are never part of the course when there is no git index to ask (a copy, an unpacked archive)."""


def _tracked(root: Path) -> list[str]:
    """The course's files: what git tracks, or, outside a git checkout, every file but generated ones."""
    found = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True)
    if found.returncode == 0 and (root / ".git").exists():
        return [name for name in found.stdout.decode().split("\0") if name]
    names = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(part in _NOT_COURSE or part.endswith(".egg-info") for part in parts):
            names.append("/".join(parts))
    return names


def _left_out(name: str) -> bool:
    return any(name == p or (p.endswith("/") and name.startswith(p)) for p in LEFT_OUT)


def release(out: Path, root: Path = ROOT) -> list[str]:
    """Write the learner release of the course at ``root`` into the new folder ``out``; return what it holds."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: give a new folder")
    written = []
    for name in _tracked(root):
        source = root / name
        if _left_out(name) or not source.is_file():
            continue
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".py"):
            text = source.read_text(encoding="utf-8")
            target.write_text(strip_solutions(text) if BEGIN in text else text, encoding="utf-8")
        else:
            shutil.copy2(source, target)
        written.append(name)
    return written


def _normalised(text: str) -> str:
    """Lines stripped of indentation, blank lines dropped: a region matches wherever it is indented."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def solution_regions(root: Path = ROOT) -> Iterator[tuple[str, str]]:
    """``(where, body)`` for every solution region of every lesson in ``root/solutions``."""
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            where = f"{path.name} cell {index}"
            if cell.cell_type == "markdown":
                for block in MD_BLOCK.findall(cell.source):
                    body = block.replace("<!-- BEGIN SOLUTION -->", "").replace("<!-- END SOLUTION -->", "")
                    yield where, _normalised(body)
                continue
            body: list[str] | None = None
            for line in cell.source.splitlines():
                if line.strip().startswith(BEGIN):
                    body = []
                elif line.strip().startswith(END) and body is not None:
                    yield where, _normalised("\n".join(body))
                    body = None
                elif body is not None:
                    body.append(line)


def _texts(folder: Path) -> Iterator[tuple[str, str]]:
    """``(name, normalised text)`` of every text file under ``folder``; a notebook counts as its cells' sources."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":
            try:
                text = "\n".join(c.get("source", "") if isinstance(c.get("source"), str) else "".join(c["source"])
                                 for c in json.loads(text).get("cells", []))
            except (ValueError, KeyError, TypeError):
                pass
        yield name, _normalised(text)


def answer_leaks(folder: Path, root: Path = ROOT) -> list[str]:
    """One line per solution region whose body appears in a file under ``folder`` (none: no answer leaks)."""
    regions = [(where, body) for where, body in solution_regions(root) if body]
    leaks = []
    for name, text in _texts(Path(folder)):
        for where, body in regions:
            if body in text:
                leaks.append(f"{name} holds the answer of {where}: {body.splitlines()[0][:70]!r}...")
    return leaks


def main(argv: list[str] | None = None) -> int:
    """Command line: write the release, optionally prove it holds no answer."""
    parser = argparse.ArgumentParser(prog="python -m authoring.release", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a new (or empty) folder for the release")
    parser.add_argument("--check", action="store_true", help="fail if any solution region's body is in the release")
    args = parser.parse_args(argv)
    written = release(args.out)
    print(f"wrote {len(written)} files to {args.out}")
    if args.check:
        leaks = answer_leaks(args.out)
        for leak in leaks:
            print("LEAK:", leak)
        if leaks:
            return 1
        print("no solution region's body is in the release")
    return 0


if __name__ == "__main__":
    sys.exit(main())
