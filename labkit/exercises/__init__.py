"""The checks of every lesson's exercises, one module per lesson.

Importing this package registers them all with :mod:`labkit.checks`.
"""

from . import lesson00, lesson01, lesson02  # noqa: F401  (registration happens on import)
