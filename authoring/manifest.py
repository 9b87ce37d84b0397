"""Write the lessons manifest the grader reads: ``labkit/exercises/lessons.json``.

For each lesson of the learner edition (``notebooks/NN_*.ipynb``) that has registered checks: its notebook's
name and each exercise's id, target, points, time limit and whether its check is sealed. The grader lists
lessons from this file, so it needs neither ``solutions/`` nor the authoring tools.

    python -m authoring.manifest            # rewrite the manifest
    python -m authoring.manifest --check    # exit 1 if it is out of step with the checks and notebooks
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labkit.checks import exercises

__all__ = ["build_manifest", "manifest_text", "ROOT", "MANIFEST"]

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "labkit" / "exercises" / "lessons.json"


def build_manifest(notebooks: Path = ROOT / "notebooks") -> dict[str, Any]:
    """The manifest as data: every lesson with checks, from the registry and the learner edition."""
    lessons: dict[str, Any] = {}
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        found = [e for e in exercises(path.name[:2]) if ":" not in e.id]
        if found:
            lessons[path.name[:2]] = {"notebook": path.name, "exercises": [
                {"id": e.id, "target": e.target, "points": e.points, "timeout": e.timeout, "sealed": e.sealed}
                for e in found]}
    return {"generated_by": "python -m authoring.manifest", "lessons": lessons}


def manifest_text() -> str:
    """The manifest file's text."""
    return json.dumps(build_manifest(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.manifest", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the manifest is out of step")
    args = parser.parse_args(argv)
    text = manifest_text()
    if args.check:
        if not MANIFEST.exists() or MANIFEST.read_text(encoding="utf-8") != text:
            print(f"{MANIFEST} is out of step: run python -m authoring.manifest", file=sys.stderr)
            return 1
        return 0
    MANIFEST.write_text(text, encoding="utf-8")
    print(f"wrote {MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
