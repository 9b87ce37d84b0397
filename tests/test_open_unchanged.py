"""Notebooks open unchanged: JupyterLab finds in them exactly what it would write when the kernel starts.

On opening, JupyterLab writes the kernel's ``language_info`` and the kernelspec's name, display name and
language into the notebook, and marks it changed ("unsaved") whenever that differs from what is stored.
Widget state, output collapse flags and execution metadata are written on save or on running a cell, so
the editions must carry none of them. This test asks a real kernel what it reports.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from authoring.editions import LANGUAGE_INFO

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel_info() -> dict:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        return client.kernel_info(reply=True, timeout=30)["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernelspec() -> dict:
    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"name": "python3", "display_name": spec.display_name, "language": spec.language}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_a_notebook_holds_what_lab_writes_on_opening(path, kernel_info, kernelspec):
    nb = json.loads(path.read_text(encoding="utf-8"))
    meta = nb["metadata"]
    assert meta.get("kernelspec") == kernelspec
    reported = dict(kernel_info["language_info"])
    stored = dict(meta.get("language_info", {}))
    assert stored.pop("version", None) == LANGUAGE_INFO["version"]
    if reported.pop("version") != LANGUAGE_INFO["version"]:
        pytest.skip(f"this kernel runs Python {platform.python_version()}, the editions are written for "
                    f"{LANGUAGE_INFO['version']}: Lab updates the version here (the other fields are checked)")
    assert stored == reported
    assert "widgets" not in meta, "saved widget state: Lab rewrites it"
    for i, cell in enumerate(nb["cells"]):
        extra = set(cell.get("metadata", {})) - {"tags"}
        assert not extra, f"cell {i} carries metadata {sorted(extra)} that Lab rewrites"


def test_language_info_matches_a_running_kernel_in_every_field(kernel_info):
    """All fields but the version come from ipykernel, whatever the Python: a new ipykernel must not drift."""
    reported = {k: v for k, v in kernel_info["language_info"].items() if k != "version"}
    assert reported == {k: v for k, v in LANGUAGE_INFO.items() if k != "version"}
