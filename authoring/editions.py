"""Generate the learner edition (``notebooks/``) from the solutions (``solutions/``).

Solutions are written once. In a code cell, the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (the nbgrader convention) become a stub at the same indentation::

    # YOUR CODE HERE
    raise NotImplementedError()

In a Markdown cell, the text between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
is dropped. Both editions are stored without outputs or execution counts.

    python -m authoring.editions            # write notebooks/ from solutions/
    python -m authoring.editions --check    # exit 1 (and say which) if notebooks/ is stale
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import nbformat.corpus.words

__all__ = ["LANGUAGE_INFO", "strip_solutions", "strip_outputs", "learner_edition", "build", "stale", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_BLOCK = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.S)
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# What the kernel reports when a notebook opens: JupyterLab writes it into the notebook and marks the notebook
# changed unless it is already there, so the editions carry it, for the Python the course is tested with.
# (Under another Python version JupyterLab still updates "version" on opening.)
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3", "version": "3.11.7"}


def strip_solutions(source: str) -> str:
    """Replace every fenced solution block in a code cell's source with an indented stub."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in STUB)
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} is never closed")
    return "\n".join(out)


def strip_outputs(nb: Any) -> Any:
    """Clear outputs and execution counts, keep only cell tags as metadata, in place; returns ``nb``."""
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        tags = cell.metadata.get("tags")
        cell.metadata = nbformat.from_dict({"tags": tags} if tags else {})
        if not cell.get("id"):
            cell.id = nbformat.corpus.words.generate_corpus_id()
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def learner_edition(solution: Any) -> Any:
    """A stripped, stubbed copy of a solution notebook."""
    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb.cells):
        try:
            if cell.cell_type == "code":
                cell.source = strip_solutions(cell.source)
            elif cell.cell_type == "markdown":
                cell.source = MD_BLOCK.sub("", cell.source)
        except ValueError as exc:
            raise ValueError(f"cell {index}: {exc}") from None
    return strip_outputs(nb)


def _dump(nb: Any) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def _pairs(root: Path) -> list[tuple[Path, Path]]:
    return [(src, root / "notebooks" / src.name) for src in sorted((root / "solutions").glob("*.ipynb"))]


def build(root: Path = ROOT) -> list[Path]:
    """Write ``notebooks/`` from ``solutions/`` (and re-strip the solutions); returns files changed."""
    changed: list[Path] = []
    (root / "notebooks").mkdir(exist_ok=True)
    for src, dst in _pairs(root):
        solution = strip_outputs(nbformat.read(src, as_version=4))
        clean_solution = _dump(solution)
        learner = _dump(learner_edition(solution))
        for path, text in ((src, clean_solution), (dst, learner)):
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                changed.append(path)
    return changed


def stale(root: Path = ROOT) -> list[str]:
    """Problems that ``build`` would fix: stale or missing learner notebooks, outputs left in solutions."""
    problems: list[str] = []
    expected = set()
    for src, dst in _pairs(root):
        expected.add(dst.name)
        solution = nbformat.read(src, as_version=4)
        if src.read_text(encoding="utf-8") != _dump(strip_outputs(copy.deepcopy(solution))):
            problems.append(f"{src.relative_to(root)} carries outputs or execution counts")
        if not dst.exists():
            problems.append(f"{dst.relative_to(root)} is missing")
        elif dst.read_text(encoding="utf-8") != _dump(learner_edition(solution)):
            problems.append(f"{dst.relative_to(root)} is out of date")
    for extra in sorted((root / "notebooks").glob("*.ipynb")):
        if extra.name not in expected:
            problems.append(f"{extra.relative_to(root)} has no source in solutions/")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.editions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if notebooks/ is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this checkout)")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(args.root)
        for p in problems:
            print(f"stale: {p}")
        if problems:
            print("run `python -m authoring.editions` to regenerate notebooks/ from solutions/")
        return 1 if problems else 0
    for path in build(args.root):
        print(f"wrote {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
