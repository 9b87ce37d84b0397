"""Lesson headings never skip a level (the website's build fails on it, and screen readers rely on it)."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
HEADING = re.compile(r"^(#{1,6}) ", re.M)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_headings_go_down_one_level_at_a_time(path):
    previous = 0
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"```.*?```", "", cell.source, flags=re.S)  # a code block's comments are not headings
        for hashes in HEADING.findall(text):
            level = len(hashes)
            assert not previous or level <= previous + 1, (
                f"cell {index}: a level-{level} heading under a level-{previous} one")
            previous = level
