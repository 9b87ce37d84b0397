"""Predict-then-run questions: a short multiple-choice question before a measurement.

A lesson asks with ``labkit.ask("02.gather_time")``. In JupyterLab the learner picks an answer and
presses *Check*; the verdict appears under the buttons. Every wrong answer names the misconception it
reveals, so a wrong prediction teaches as much as a right one. Without widgets (a terminal, a static
page) the question prints as text, and ``labkit.ask("02.gather_time", "b")`` checks a letter directly.

Questions live in one module per lesson (``labkit/questions/lessonNN.py``), each defining
``QUESTIONS``, a list of :class:`Question`. Predictions are not graded.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

__all__ = ["Question", "Option", "ask", "get_question", "questions"]


@dataclass(frozen=True)
class Option:
    """One answer: its text, and for a wrong one the misconception it reveals."""

    text: str
    correct: bool = False
    why: str = ""


@dataclass(frozen=True)
class Question:
    """A predict-then-run question: ``id`` is ``"NN.name"``; exactly one option is correct."""

    id: str
    prompt: str
    options: tuple[Option, ...]
    explain: str = ""
    letters: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "letters", tuple("abcdefgh"[: len(self.options)]))
        right = [o for o in self.options if o.correct]
        if len(right) != 1:
            raise ValueError(f"question {self.id}: exactly one option must be correct, not {len(right)}")
        for option in self.options:
            if not option.correct and not option.why.strip():
                raise ValueError(f"question {self.id}: wrong option {option.text!r} must name its misconception")

    def verdict(self, letter: str) -> str:
        """The feedback for the answer ``letter`` (one line, then the explanation)."""
        letter = letter.strip().lower().rstrip(")")
        if letter not in self.letters:
            return f"Pick one of {', '.join(self.letters)}, then run the cell again."
        option = self.options[self.letters.index(letter)]
        if option.correct:
            text = f"Right: {letter}) {option.text}."
            return f"{text} {self.explain}".strip()
        return f"Not quite: {letter}) {option.text}. {option.why} Now run the next cell and see."

    def as_text(self) -> str:
        lines = [self.prompt, ""]
        lines += [f"  {letter}) {option.text}" for letter, option in zip(self.letters, self.options)]
        return "\n".join(lines)


_QUESTIONS: dict[str, Question] = {}


def _load() -> None:
    if _QUESTIONS:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("lesson"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            for question in getattr(module, "QUESTIONS", ()):
                if question.id in _QUESTIONS:
                    raise ValueError(f"question id {question.id} defined twice")
                _QUESTIONS[question.id] = question


def questions() -> list[Question]:
    """Every question of every lesson."""
    _load()
    return list(_QUESTIONS.values())


def get_question(id: str) -> Question:
    """The question ``id``; a clear ``KeyError`` names the known ones of that lesson."""
    _load()
    try:
        return _QUESTIONS[id]
    except KeyError:
        lesson = id.split(".", 1)[0]
        known = sorted(q for q in _QUESTIONS if q.startswith(lesson + "."))
        raise KeyError(f"no question {id!r}; lesson {lesson} has {known}") from None


def ask(id: str, answer: str | None = None) -> object:
    """Show question ``id`` with a *Check* button, or check ``answer`` (a letter) at once."""
    question = get_question(id)
    if answer is not None:
        print(question.verdict(answer))
        return None
    try:
        import ipywidgets as w
        from IPython import get_ipython
        if get_ipython() is None or not hasattr(get_ipython(), "kernel"):
            raise ImportError
    except ImportError:
        print(question.as_text())
        print(f'\nAnswer with labkit.ask("{id}", "<letter>").')
        return None
    choice = w.RadioButtons(options=[(f"{l}) {o.text}", l) for l, o in zip(question.letters, question.options)],
                            value=None, layout=w.Layout(width="auto"))
    button = w.Button(description="Check", button_style="primary")
    feedback = w.HTML()

    def on_click(_: object) -> None:  # synchronous on purpose: it redraws at once
        if choice.value is None:
            feedback.value = "<i>Pick an answer first.</i>"
            return
        text = question.verdict(choice.value)
        mark = "✔" if text.startswith("Right") else "✘"
        feedback.value = f"<b>{mark}</b> {_html(text)}"

    button.on_click(on_click)
    box = w.VBox([w.HTML(f"<b>Predict:</b> {_html(question.prompt)}"), choice, button, feedback])
    box.add_class("labkit-question")
    return box


def _html(text: str) -> str:
    import html
    import re
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
