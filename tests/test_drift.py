"""Lessons show the package's code; a solution cell tagged ``bookshelf:<name>`` must match the package."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from authoring import drift as listing
from labkit import listing as showing

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def notebook_with(tmp_path: Path, tag: str, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# x"), nbformat.v4.new_code_cell(code, metadata={"tags": [tag]})]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_source_of_functions_and_modules():
    code = showing.source("bookshelf.recommend.similarity")
    assert code.startswith("def similarity(a: Book, b: Book) -> float:")
    assert showing.source(showing.resolve("bookshelf.recommend")).startswith('"""Similar books')
    with pytest.raises(ImportError):
        showing.resolve("no_such_package.thing")


def test_a_matching_solution_cell_passes_even_with_fences(tmp_path):
    code = showing.source("bookshelf.recommend.similar_books").splitlines()
    fenced = "\n".join([*code[:2], "    ### BEGIN SOLUTION", *code[2:], "    ### END SOLUTION"])
    path = notebook_with(tmp_path, "bookshelf:bookshelf.recommend.similar_books", fenced)
    assert listing.drift(path) == []


def test_a_drifted_cell_and_a_bad_tag_are_reported(tmp_path):
    code = showing.source("bookshelf.recommend.similar_books").replace("ranked[:limit]", "ranked[:limit + 1]")
    path = notebook_with(tmp_path, "bookshelf:bookshelf.recommend.similar_books", code)
    assert "differs from the package's source" in listing.drift(path)[0]
    path = notebook_with(tmp_path, "bookshelf:bookshelf.recommend.nothing", "pass")
    assert "names nothing showable" in listing.drift(path)[0]


@pytest.mark.parametrize("notebook", SOLUTIONS, ids=lambda p: p.name)
def test_solution_notebooks_match_the_package(notebook):
    assert listing.drift(notebook) == []


def test_a_myshelf_module_cell_is_compared_by_its_definition(tmp_path):
    code = showing.source("bookshelf.recommend.similar_books")
    cell = f"%%myshelf recommend\n\"\"\"a module\"\"\"\nimport functools\n\n\n{code}\n\nX = 1\n"
    path = notebook_with(tmp_path, "bookshelf:bookshelf.recommend.similar_books", cell)
    assert listing.drift(path) == []
    path = notebook_with(tmp_path, "bookshelf:bookshelf.recommend.similar_books", cell.replace("ranked[:limit]", "ranked"))
    assert "differs" in listing.drift(path)[0]
