"""authoring: the tools course authors run; learners never import it.

* ``authoring.editions``: generate the learner notebooks (``notebooks/``) from the solutions.
* ``authoring.navigation``: the lessons' previous | index | next bars, the index notebook, the README map.
* ``authoring.binder``: keep ``binder/requirements.txt`` in step with ``requirements.txt``.
* ``authoring.nbgrader``: the lessons as an nbgrader course folder (source notebooks with nbgrader's metadata).

Imports run one way: ``authoring`` may use ``labkit``; ``labkit`` never imports ``authoring``.
"""
