"""The checks of every lesson's exercises, one module per lesson (``lessonNN.py``).

Importing this package imports every ``lesson*`` module in it, which registers their checks with
:mod:`labkit.checks`; a new lesson's module is picked up without editing this file. ``capstone`` is the
capstone's HTTP acceptance suite, which lesson 09's check and lesson 09 itself use.
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("lesson")):
    importlib.import_module(f"{__name__}.{_module}")
