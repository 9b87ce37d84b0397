"""authoring.navigation: nav bars, index notebook and README map come from the lessons' titles, idempotently."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from apps import ROOT
from authoring import editions, navigation
from test_links import relative_targets

README = """# Course

<!-- binder-badge:start -->
<!-- binder-badge:end -->

## Course map

<!-- course-map:start -->
old table
<!-- course-map:end -->
"""


def lesson_notebook(number: str, title: str, next_link: str = "") -> nbformat.NotebookNode:
    intro = (f"# {number} · {title}\n\n**What you build here:** the {title.lower()} part,\nin | two lines.\n\n"
             "| | |\n|---|---|\n| **Time** | 10 min teaching, 5 min exercise |\n")
    cells = [nbformat.v4.new_markdown_cell(intro), nbformat.v4.new_code_cell("x = 1")]
    if next_link:
        cells.append(nbformat.v4.new_markdown_cell(f"## Key points\n- one\n\n**Next:** {next_link}"))
    return nbformat.v4.new_notebook(cells=cells)


def make_course(root: Path, lessons: list[tuple[str, str]]) -> Path:
    (root / "solutions").mkdir(parents=True)
    (root / "README.md").write_text(README, encoding="utf-8")
    for position, (name, title) in enumerate(lessons):
        last = position == len(lessons) - 1
        nbformat.write(lesson_notebook(name[:2], title, "[the index](index.ipynb)" if last else "[soon](old.ipynb)"),
                       root / "solutions" / f"{name}.ipynb")
    return root


def markdown(path: Path) -> str:
    return "\n\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def nav_cells(path: Path) -> list[tuple[int, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if "nav" in c.metadata.get("tags", [])]


def broken_links(root: Path) -> list[str]:
    files = [root / "README.md", *(root / "solutions").glob("*.ipynb"), *(root / "notebooks").glob("*.ipynb")]
    return [f"{p.name} -> {t}" for p in files
            for t in relative_targets(p.read_text(encoding="utf-8") if p.suffix == ".md" else markdown(p))
            if not (p.parent / t).exists()]


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path, [("00_start", "Start here"), ("01_basics", "Basics"), ("02_more", "More")])


def test_build_writes_nav_index_and_map_and_is_idempotent(course: Path):
    assert navigation.stale(course), "a fresh course needs building"
    changed = navigation.build(course)
    assert {p.name for p in changed} == {"00_start.ipynb", "01_basics.ipynb", "02_more.ipynb", "index.ipynb", "README.md"}
    assert navigation.stale(course) == []
    assert navigation.build(course) == [], "a second run must change nothing"
    assert navigation.main(["--check", "--root", str(course)]) == 0


def test_nav_bars_link_previous_index_next(course: Path):
    navigation.build(course)
    first, middle, last = (course / "solutions" / f for f in ("00_start.ipynb", "01_basics.ipynb", "02_more.ipynb"))
    cells = nbformat.read(middle, as_version=4).cells
    assert [i for i, _ in nav_cells(middle)] == [0, len(cells) - 1], "one bar at the top, one at the bottom"
    assert nav_cells(middle)[0][1] == ("[← 00 · Start here](00_start.ipynb) | [Course index](index.ipynb) | "
                                       "[02 · More →](02_more.ipynb)")
    assert nav_cells(first)[0][1] == "[Course index](index.ipynb) | [01 · Basics →](01_basics.ipynb)"
    assert nav_cells(last)[0][1] == "[← 01 · Basics](01_basics.ipynb) | [Course index](index.ipynb)"
    assert "**Next:** [01 · Basics](01_basics.ipynb)" in markdown(first), "the lesson's own Next line is retargeted"
    assert "**Next:** [the index](index.ipynb)" in markdown(last), "the last lesson's Next line is left alone"
    assert "# 01 · Basics" in cells[1].source, "the title still comes right after the top bar"


def test_index_and_readme_map(course: Path):
    navigation.build(course)
    index = markdown(course / "solutions" / "index.ipynb")
    assert "| [01 · Basics](01_basics.ipynb) | The basics part, in \\| two lines | 15 min |" in index
    readme = (course / "README.md").read_text(encoding="utf-8")
    assert "old table" not in readme
    assert "| [02 · More](notebooks/02_more.ipynb) | The more part, in \\| two lines | 15 min |" in readme
    assert "labpath=notebooks%2F02_more.ipynb" in readme
    assert readme.count("<!-- course-map:start -->") == 1
    badge = readme.split("<!-- binder-badge:start -->")[1].split("<!-- binder-badge:end -->")[0]
    assert f"mybinder.org/v2/gh/{navigation.BINDER_REPO}/HEAD?labpath=notebooks%2F00_start.ipynb" in badge


def test_renaming_a_lesson_updates_every_link(course: Path):
    navigation.build(course)
    old = course / "solutions" / "01_basics.ipynb"
    nb = nbformat.read(old, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("# 01 · Basics", "# 01 · The basics, renamed")
    nbformat.write(nb, course / "solutions" / "01_foundations.ipynb")
    old.unlink()
    assert navigation.main(["--check", "--root", str(course)]) == 1
    navigation.build(course)
    editions.build(course)
    assert navigation.stale(course) == [] and editions.stale(course) == []
    everything = "".join(p.read_text(encoding="utf-8") for p in [course / "README.md", *course.rglob("*.ipynb")])
    assert "01_basics" not in everything
    assert "[01 · The basics, renamed →](01_foundations.ipynb)" in markdown(course / "notebooks" / "00_start.ipynb")
    assert broken_links(course) == []


def test_lessons_can_appear_later(course: Path):
    navigation.build(course)
    nbformat.write(lesson_notebook("03", "Later"), course / "solutions" / "03_later.ipynb")
    assert "solutions/02_more.ipynb" in navigation.stale(course)
    navigation.build(course)
    assert nav_cells(course / "solutions" / "02_more.ipynb")[0][1].endswith("[03 · Later →](03_later.ipynb)")
    assert navigation.build(course) == []


def test_only_writes_the_named_lessons(course: Path):
    changed = navigation.build(course, only={"00"})
    assert {p.name for p in changed} == {"00_start.ipynb", "index.ipynb", "README.md"}
    assert nav_cells(course / "solutions" / "01_basics.ipynb") == []


def test_editions_copy_the_index_and_nav_to_the_learner_folder(course: Path):
    navigation.build(course)
    editions.build(course)
    assert (course / "notebooks" / "index.ipynb").exists()
    assert nav_cells(course / "notebooks" / "01_basics.ipynb") == nav_cells(course / "solutions" / "01_basics.ipynb")
    assert editions.build(course) == [], "the editions generator agrees with the navigation's notebook format"
    assert broken_links(course) == []


def test_a_lesson_without_a_proper_title_is_an_error(course: Path):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Intro without a heading")]),
                   course / "solutions" / "04_untitled.ipynb")
    with pytest.raises(ValueError, match="04_untitled.ipynb: the first cell must start with a heading"):
        navigation.lessons(course)
    assert navigation.main(["--root", str(course)]) == 2


def test_heading_number_must_match_the_file_name(course: Path):
    nbformat.write(lesson_notebook("07", "Misnumbered"), course / "solutions" / "05_misnumbered.ipynb")
    with pytest.raises(ValueError, match="heading says lesson 07, its file name says 05"):
        navigation.lessons(course)


def test_missing_readme_markers_are_an_error(course: Path):
    (course / "README.md").write_text("# Course\n", encoding="utf-8")
    with pytest.raises(ValueError, match="course-map|binder-badge"):
        navigation.build(course)


def test_this_course_is_up_to_date():
    problems = navigation.stale(ROOT)
    assert not problems, "run `python -m authoring.navigation` then `python -m authoring.editions`:\n" + "\n".join(problems)
