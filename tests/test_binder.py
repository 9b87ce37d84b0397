"""binder/ is what Binder (repo2docker) builds from: same pins as the course, a tested Python, the helper installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

from apps import ROOT
from authoring.binder import binder_requirements
from authoring.binder import main as binder_main
from labkit.environment import pinned_versions

BINDER = ROOT / "binder"


def test_binder_pins_equal_the_course_pins():
    root, binder = pinned_versions(ROOT / "requirements.txt"), pinned_versions(BINDER / "requirements.txt")
    assert root, "requirements.txt has no pins"
    only_root = {k: v for k, v in root.items() if binder.get(k) != v}
    only_binder = {k: v for k, v in binder.items() if root.get(k) != v}
    assert not only_root and not only_binder, (
        f"run `python -m authoring.binder`: requirements.txt has {only_root}, binder/requirements.txt has {only_binder}")


def test_binder_requirements_name_no_local_path():
    # A local path (`-e .`) would make repo2docker copy the whole repo before installing, losing its cache.
    for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines():
        assert not re.match(r"^\s*(-e\s+)?[./]", line), f"local requirement {line!r}: postBuild installs the package"


def test_binder_requirements_are_generated_from_the_course_file():
    assert binder_main(["--check"]) == 0, "run `python -m authoring.binder`"


def test_generator_keeps_pins_and_comments_and_drops_the_local_package():
    root = "# header\n# install with pip\n\n# web\nfastapi==1.0\n# client\nhttpx==2.0\n\n# the helper\n-e .\n"
    out = binder_requirements(root)
    assert "# web\nfastapi==1.0\n# client\nhttpx==2.0\n" in out
    assert "-e ." not in out.replace("`pip install -e .`", "") and "# the helper" not in out
    assert "# header" not in out


def test_runtime_names_a_python_the_course_is_tested_on():
    text = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-(3)\.(\d+)", text)
    assert match, f"binder/runtime.txt should read like 'python-3.11', not {text!r}"
    version = (int(match.group(1)), int(match.group(2)))
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert version >= tuple(int(p) for p in floor.lstrip(">=").split(".")), f"{text} is below {floor}"
    assert version == sys.version_info[:2] or shutil.which(f"python{version[0]}.{version[1]}"), (
        f"{text}: this machine cannot run the tests on that Python")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{version[0]}.{version[1]}" in readme, "the README should name the Python Binder uses"


def test_postbuild_is_an_executable_script_that_installs_the_package():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "chmod +x binder/postBuild (repo2docker runs it directly)"
    text = post.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text, "a failing step must fail the Binder build"
    assert re.search(r"pip install .*-e \.", text), "postBuild must install the helper package (pip install -e .)"
    subprocess.run(["bash", "-n", str(post)], check=True)


def test_binder_needs_nothing_outside_binder():
    # With binder/ present repo2docker ignores configuration files at the top level; make sure none
    # sneaked in that someone might expect Binder to read.
    ignored = {"environment.yml", "apt.txt", "Project.toml", "install.R", "runtime.txt", "postBuild", "start"}
    assert not [name for name in ignored if (ROOT / name).exists()]
    assert {p.name for p in BINDER.iterdir()} <= {"requirements.txt", "runtime.txt", "postBuild", "start",
                                                   "apt.txt", "README.md"}
