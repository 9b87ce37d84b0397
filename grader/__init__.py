"""grader: what instructors run to grade learners' notebooks; learners never import it.

* ``grader.notebook``: run one learner's notebook cells in a kernel and the lesson's checks on them
  (``NotebookGrader``; ``exercises_tests`` uses it).
* ``grader.grade``: a whole class at once, ``python -m grader SUBMISSIONS`` (gradebook, feedback, JUnit).

Imports run one way: ``grader`` uses ``labkit``'s registered checks; ``labkit`` never imports ``grader``.
"""
