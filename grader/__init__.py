"""grader: what instructors run to grade learners' notebooks; learners never import it.

* ``grader.notebook``: run one learner's notebook cells in a kernel and the lesson's checks on them
  (``NotebookGrader``; ``exercises_tests`` uses it).
* ``grader.grade``: a whole class at once, ``python -m grader SUBMISSIONS`` (gradebook, feedback, JUnit).
* ``grader.export``: ``python -m grader export RESULTS --format canvas|gradescope``, the gradebook for Canvas or
  Gradescope.
* ``grader.sandbox``: the bubblewrap sandbox each learner's kernel runs in.
* ``grader.channel``: how a sealed check, run in the grader, calls the learner's function in the kernel.

Imports run one way: ``grader`` uses ``labkit``'s registered checks; ``labkit`` never imports ``grader``.
"""
