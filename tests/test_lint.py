"""The course's own Python code has no unused imports, undefined names or similar slips (pyflakes)."""

from __future__ import annotations

import subprocess
import sys

from apps import ROOT

FOLDERS = ["labkit", "bookshelf", "tests", "exercises_tests", "benchmarks", "scripts"]


def test_pyflakes_is_clean():
    found = subprocess.run([sys.executable, "-m", "pyflakes", *FOLDERS], cwd=ROOT, capture_output=True, text=True)
    assert found.returncode == 0, found.stdout + found.stderr
