"""Keep ``binder/requirements.txt`` in step with ``requirements.txt`` (Binder reads only ``binder/``).

The Binder copy holds the same pins and comments, without the local package (``-e .``):
``binder/postBuild`` installs that, so repo2docker can build and cache the dependencies first.

    python -m authoring.binder            # rewrite binder/requirements.txt from requirements.txt
    python -m authoring.binder --check    # exit 1 if it is out of step
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["binder_requirements", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Binder (repo2docker) installs this file, then runs binder/postBuild, which installs the course
# helper package (`pip install -e .`). Generated from ../requirements.txt by `python -m authoring.binder`:
# edit that file, not this one (tests/test_binder.py checks that the pins agree). The local package is
# left to postBuild so that this file names no local path and repo2docker can cache this layer.
"""
LOCAL = re.compile(r"^\s*(-e\s+)?\.(\s|$)")


def binder_requirements(root_requirements: str) -> str:
    """The Binder copy of a requirements file: its own header, the pins, no local package."""
    blocks = root_requirements.strip("\n").split("\n\n")
    kept = []
    for block in blocks[1:]:  # the first block is the root file's own header
        lines = block.split("\n")
        if any(LOCAL.match(line) for line in lines):
            lines = [line for line in lines if not line.startswith("#") and not LOCAL.match(line)]
        if lines:
            kept.append("\n".join(lines))
    return HEADER + "\n" + "\n\n".join(kept) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.binder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if out of step")
    parser.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this checkout)")
    args = parser.parse_args(argv)
    target = args.root / "binder" / "requirements.txt"
    wanted = binder_requirements((args.root / "requirements.txt").read_text(encoding="utf-8"))
    current = target.read_text(encoding="utf-8") if target.exists() else ""
    if current == wanted:
        return 0
    if args.check:
        print(f"stale: {target.relative_to(args.root)}; run `python -m authoring.binder`")
        return 1
    target.write_text(wanted, encoding="utf-8")
    print(f"wrote {target.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
