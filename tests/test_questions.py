"""Predict-then-run questions: well formed, each asked by a lesson, and every ask() names a real one."""

import re
from pathlib import Path

import nbformat
import pytest

from labkit.questions import Question, Option, get_question, questions

ROOT = Path(__file__).resolve().parent.parent
ASK = re.compile(r"""labkit\.ask\(\s*["']([0-9]{2}\.[a-z0-9_]+)["']""")


def asked() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for qid in ASK.findall(cell.source):
                found.setdefault(qid, []).append(path.name)
                assert "predict" in cell.metadata.get("tags", []), f"{path.name}: the cell asking {qid} needs the tag 'predict'"
    return found


def test_every_asked_question_exists_and_belongs_to_its_lesson():
    for qid, where in asked().items():
        get_question(qid)
        assert all(name.startswith(qid[:2]) for name in where), f"{qid} asked from {where}"


def test_every_question_is_asked_somewhere():
    unused = sorted({q.id for q in questions()} - set(asked()))
    assert not unused, f"questions no lesson asks: {unused}"


def test_a_question_needs_one_right_answer_and_a_reason_for_each_wrong_one():
    with pytest.raises(ValueError, match="exactly one"):
        Question("99.x", "?", (Option("a"), Option("b", why="no")))
    with pytest.raises(ValueError, match="misconception"):
        Question("99.x", "?", (Option("a", correct=True), Option("b")))


def test_verdicts_name_the_misconception(capsys):
    for q in questions():
        for letter, option in zip(q.letters, q.options):
            text = q.verdict(letter)
            assert text.startswith("Right" if option.correct else "Not quite"), (q.id, letter)
            if not option.correct:
                assert option.why in text
        assert "Pick one of" in q.verdict("z")
