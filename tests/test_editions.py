"""authoring.editions: solutions/ is the one source; notebooks/ is generated from it and never stale."""

from __future__ import annotations

import json

import nbformat
import pytest

from apps import ROOT
from authoring.editions import learner_edition, stale, strip_solutions


def test_solution_block_becomes_an_indented_stub():
    source = "async def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n"
    assert strip_solutions(source) == (
        "async def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()\n")


def test_unbalanced_markers_are_errors():
    with pytest.raises(ValueError, match="never closed"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="without"):
        strip_solutions("x = 1\n### END SOLUTION\n")


def test_learner_edition_drops_markdown_answers_and_outputs():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Q?\n<!-- BEGIN SOLUTION -->\nThe answer.\n<!-- END SOLUTION -->\n"),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                  execution_count=3, outputs=[nbformat.v4.new_output("stream", text="hi")]),
    ])
    out = learner_edition(nb)
    assert "answer" not in out.cells[0].source
    assert "return 1" not in out.cells[1].source
    assert out.cells[1].outputs == [] and out.cells[1].execution_count is None
    assert nb.cells[1].execution_count == 3, "the solution itself is not modified"


def test_notebooks_folder_is_up_to_date():
    problems = stale(ROOT)
    assert not problems, "run `python -m authoring.editions`:\n" + "\n".join(problems)


def every_notebook():
    return sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", every_notebook(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_notebooks_are_stripped(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs"


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_every_exercise_has_a_self_check_cell_and_a_grading_test(path):
    from labkit.checks import exercises

    nb = nbformat.read(path, as_version=4)
    tags = {t for c in nb.cells for t in c.metadata.get("tags", [])}
    lesson = path.name[:2]
    registered = {e.id for e in exercises(lesson)}
    in_notebook = {t.split(":", 1)[1] for t in tags if t.startswith("exercise:")}
    checked = {t.split(":", 1)[1] for t in tags if t.startswith("check:")}
    assert in_notebook == registered, f"exercise cells {sorted(in_notebook)} vs checks {sorted(registered)}"
    assert checked == registered, f"self-check cells {sorted(checked)} vs checks {sorted(registered)}"
    tests = list((ROOT / "exercises_tests").glob(f"test_{lesson}_*.py"))
    assert len(tests) == 1, f"lesson {lesson} needs exactly one grading module, found {tests}"
    text = tests[0].read_text(encoding="utf-8")
    missing = [e for e in registered if f'"{e}"' not in text]
    assert not missing, f"{tests[0].name} does not grade {missing}"
