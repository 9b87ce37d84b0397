"""The course website (authoring/site.py): pages show the learner's edition with real outputs, and no answer."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import sys

import nbformat
import pytest

from apps import ROOT
from authoring import site
from authoring.editions import learner_edition
from authoring.navigation import Lesson, binder_url, lessons
from labkit.questions import questions

ANSWER = "total = sum(value * weight for value, weight in pairs)"
LESSON = Lesson("07", "Demo", "07_demo.ipynb", "A demo", "10 min")


def _cell(kind: str, source: str, tags: list[str] | None = None, outputs: list | None = None, id: str = ""):
    cell = (nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell)(source)
    cell.id = id or f"c{abs(hash(source)) % 10**8}"
    if tags:
        cell.metadata["tags"] = tags
    if outputs is not None:
        cell.outputs = outputs
    return cell


def _text(text: str) -> dict:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def demo_solution():
    """An executed solution notebook with every kind of cell a lesson has."""
    question = questions()[0]
    widget = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2, "version_minor": 0},
        "text/plain": "VBox(children=(...))"})
    docs = nbformat.v4.new_output("display_data", data={
        "text/html": '<a href="http://127.0.0.1:5555/docs" target="_blank">Open the docs</a>', "text/plain": "docs"})
    cells = [
        _cell("md", "[← previous](06_x.ipynb) | [Course index](index.ipynb)", ["nav"], id="nav-top"),
        _cell("md", "# 07 · Demo\n\n**What you build here:** a demo.\n\n| | |\n|---|---|\n| **Time** | 10 min |\n"
                    "| **Objectives** | see it |\n\nThen [lesson 08](08_next.ipynb) and [the README](../README.md).",
              id="title"),
        _cell("code", "print('measured', 0.123)", outputs=[_text("measured 0.123\n")], id="plain"),
        _cell("code", f"def weigh(pairs):\n    ### BEGIN SOLUTION\n    {ANSWER}\n    return total\n"
                      "    ### END SOLUTION", ["exercise:07.weigh"], [_text("the answer prints this\n")], id="ex"),
        _cell("code", 'check("07.weigh")', ["check:07.weigh"], [_text("07.weigh passed: hidden detail\n")], id="check"),
        _cell("code", f"%%myshelf weights\ndef weigh(pairs):\n    ### BEGIN SOLUTION\n    {ANSWER}\n"
                      "    ### END SOLUTION", outputs=[_text(f"wrote myshelf/weights.py: {ANSWER}\n")], id="shelf"),
        _cell("code", f'labkit.ask("{question.id}")', ["predict"], [widget], id="predict"),
        _cell("code", "panel", outputs=[widget], id="widget"),
        _cell("code", "server.show_docs_link()", outputs=[docs], id="docs"),
        _cell("md", "[← previous](06_x.ipynb) | [Course index](index.ipynb)", ["nav"], id="nav-bottom"),
    ]
    return nbformat.v4.new_notebook(cells=cells), question


def published():
    solution, question = demo_solution()
    return site.publish(solution, learner_edition(solution), LESSON, pages={"07_demo.ipynb"}), question


def test_exercise_cells_show_the_stub_and_no_output():
    nb, _ = published()
    cells = {c.id: c for c in nb.cells}
    text = nbformat.writes(nb)
    assert ANSWER not in text and "the answer prints this" not in text
    assert "raise NotImplementedError()" in cells["ex"].source
    assert "%%myshelf weights" in cells["shelf"].source and "raise NotImplementedError()" in cells["shelf"].source
    for cell_id, kind in (("ex", "exercise"), ("check", "check"), ("shelf", "answer")):
        assert [o["data"]["text/plain"] for o in cells[cell_id].outputs] == [site.RUN_IT[kind]], cell_id


def test_self_checks_show_run_it_yourself_not_their_output():
    nb, _ = published()
    assert "hidden detail" not in nbformat.writes(nb)
    assert "run it yourself" in nbformat.writes(nb).lower()


def test_other_outputs_come_from_the_run():
    nb, _ = published()
    assert [c for c in nb.cells if c.id == "plain"][0].outputs[0]["text"] == "measured 0.123\n"


def test_nav_cells_go_and_links_follow_the_site():
    nb, _ = published()
    assert "nav-top" not in [c.id for c in nb.cells] and "nav-bottom" not in [c.id for c in nb.cells]
    title = [c for c in nb.cells if c.id == "title"][0].source
    assert "(../README.md)" not in title and f"({site.GITHUB}/blob/HEAD/README.md)" in title
    assert f"({site.GITHUB}/blob/HEAD/notebooks/08_next.ipynb)" in title  # not on this site: the repository's copy


def test_the_time_and_objectives_table_is_boxed():
    nb, _ = published()
    title = [c for c in nb.cells if c.id == "title"][0].source
    assert re.search(r"````\{container\} lesson-box\n\| \| \|\n.*\| \*\*Objectives\*\* \| see it \|\n````", title, re.S)
    assert nb.cells[1].id == "site-about" and "Binder" in nb.cells[1].source


def test_predictions_print_their_question_without_the_answer():
    nb, question = published()
    outputs = [c for c in nb.cells if c.id == "predict"][0].outputs
    assert outputs[0]["text"] == question.as_text() + "\n"
    right = next(o for o in question.options if o.correct)
    assert question.verdict(question.letters[question.options.index(right)]) not in nbformat.writes(nb)


def test_widgets_and_build_server_links_are_replaced():
    nb, _ = published()
    cells = {c.id: c for c in nb.cells}
    assert [o["data"]["text/plain"] for o in cells["widget"].outputs] == [site.RUN_IT["widget"]]
    assert "widget-view" not in nbformat.writes(nb)
    assert "<a " not in cells["docs"].outputs[0]["data"]["text/html"]
    assert "Open the docs" in cells["docs"].outputs[0]["data"]["text/html"]


def test_a_learner_edition_that_does_not_match_is_refused():
    solution, _ = demo_solution()
    learner = learner_edition(solution)
    learner.cells.pop(3)
    with pytest.raises(ValueError, match="authoring.editions"):
        site.publish(solution, learner, LESSON)


def test_the_landing_page_is_the_course_map():
    course = lessons()
    page = site.landing_page(course, course[:2])
    for lesson in course[:2]:
        assert f"[{lesson.label}]({lesson.file})" in page and binder_url(lesson.file) in page
        assert f'href="notebooks/{lesson.file}" download' in page and lesson.time in page
    assert course[2].label in page.split("Not built this time:")[1]
    assert page.split("{toctree}")[1].split("```")[0].split() == [":hidden:", ":maxdepth:", "1",
                                                                 *(c.file[:-6] for c in course[:2])]


def test_every_lesson_has_answer_lines_to_look_for():
    found = site.solution_lines()
    exercised = [p.name for p in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
                 if "### BEGIN SOLUTION" in p.read_text(encoding="utf-8")]
    assert exercised and all(found[name] for name in exercised), {n: len(found[n]) for n in exercised}
    learner = (ROOT / "notebooks" / "02_first_fastapi_app.ipynb").read_text(encoding="utf-8")
    assert not any(line in learner for line in found["02_first_fastapi_app.ipynb"])


def test_answers_in_finds_an_answer_however_the_page_dresses_it(tmp_path):
    line = sorted(site.solution_lines()["02_first_fastapi_app.ipynb"], key=len)[-1]  # a whole answer, many lines
    clean = "<html><body><p>Nothing to see</p></body></html>"
    (tmp_path / "index.html").write_text(clean)
    assert site.answers_in(tmp_path) == []
    words = line.split(" ")  # as a syntax highlighter writes code: a span per token, characters escaped
    dressed = "".join(f'<span class="n">{html.escape(w)}</span> ' for w in words)
    (tmp_path / "lesson.html").write_text(f"<html><body><pre>{dressed}</pre></body></html>")
    assert f"lesson.html: {line}" in site.answers_in(tmp_path)
    (tmp_path / "lesson.html").write_text(clean)
    (tmp_path / "searchindex.js").write_text(f'Search.setIndex({{"x": "{line}"}})')
    assert f"searchindex.js: {line}" in site.answers_in(tmp_path)
    assert not [leak for leak in site.answers_in(tmp_path) if leak.startswith("lesson.html")]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("myst_nb") is None,
                    reason="the site's packages are not installed (pip install -r site/requirements.txt)")
def test_a_built_lesson_page(tmp_path):
    """Lesson 00 built for real: executed, rendered, with its buttons and the learner notebook, and no answer."""
    html_dir = site.build(only={"00"}, out=tmp_path)
    index = (html_dir / "index.html").read_text(encoding="utf-8")
    page = (html_dir / "00_welcome.html").read_text(encoding="utf-8")
    assert 'href="00_welcome.html"' in index and "Not built this time" in index
    assert binder_url("00_welcome.ipynb").replace("&", "&amp;") in page and 'href="notebooks/00_welcome.ipynb"' in page
    assert (html_dir / "notebooks" / "00_welcome.ipynb").read_bytes() == \
        (ROOT / "notebooks" / "00_welcome.ipynb").read_bytes()
    assert "run-it-yourself" in page and "lesson-box" in page
    assert site.answers_in(html_dir) == []
    assert not re.findall(r"""<(?:script|link|img)\b[^>]*(?:src|href)=["']https?://""", index + page)


@pytest.mark.slow
def test_a_failing_cell_fails_the_run_but_marked_cells_behave_as_in_the_tests(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nprint(os.environ['LABKIT_QUICK'], os.getcwd())"),
        nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("# NBVAL_SKIP\nraise SystemExit('never run')"),
        nbformat.v4.new_code_cell("print('after')"),
    ])
    for cell in nb.cells:
        cell.id = f"cell{nb.cells.index(cell)}"
    nbformat.write(nb, tmp_path / "good.ipynb")
    before = dict(os.environ)
    ran = site.execute(tmp_path / "good.ipynb", tmp_path / "run")
    assert dict(os.environ) == before  # the kernel gets its settings; this process keeps its own
    assert ran.cells[0].outputs[0]["text"] == f"1 {tmp_path / 'run'}\n"
    assert ran.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert ran.cells[2].outputs == [] and ran.cells[3].outputs[0]["text"] == "after\n"
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, tmp_path / "bad.ipynb")
    from nbclient.exceptions import CellExecutionError
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        site.execute(tmp_path / "bad.ipynb", tmp_path / "run")
    with pytest.raises(TimeoutError, match="time limit"):
        site.execute(tmp_path / "good.ipynb", tmp_path / "run", deadline=0)


@pytest.mark.slow
@pytest.mark.skipif(not any(map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
                    reason="no Chromium here (apt-get install chromium)")
def test_the_browser_check_fails_a_broken_site(tmp_path, capsys):
    """scripts/site_check.py on a site with a broken link and anchor, an outside image, a lesson page without its
    buttons, too wide for a phone, with an answer on it, and no search page: each is reported."""
    html_dir = tmp_path / "html"
    html_dir.mkdir()
    (html_dir / "index.html").write_text(
        '<html><body><a href="missing.html">gone</a> <a href="01_demo.html#nowhere">lesson</a>'
        '<img src="https://example.org/chart.png"></body></html>')
    answer = sorted(site.solution_lines()["01_async_fundamentals.ipynb"])[0]
    (html_dir / "01_demo.html").write_text(f'<html><head><meta name="viewport" content="width=device-width">'
                                           f'</head><body><p>a lesson page without buttons</p>'
                                           f'<pre>{html.escape(answer)}</pre><div style="width: 900px">wide</div>'
                                           '</body></html>')
    sys.path.insert(0, str(ROOT / "scripts"))
    import site_check

    site_check.ARTIFACTS = tmp_path / "screenshots"
    assert site_check.main(["--html", str(html_dir)]) == 1
    report = capsys.readouterr().err
    for problem in ("index.html: broken link to missing.html", "01_demo.html#nowhere, which has no such anchor",
                    "index.html: an image did not render", "outside this machine: ['https://example.org/chart.png']",
                    "01_demo.html: no Binder button", "01_demo.html: no download button", "no time / objectives box",
                    "the site has no search page", "px wider than a 390 px phone screen",
                    f"an exercise answer is on the site: 01_demo.html: {answer}"):
        assert problem in report, problem
