"""Every lesson runs top to bottom twice in the same kernel (re-running cells must not break or leak)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from apps import ROOT

NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))

LEAK_PROBE = """
import threading, labkit
_threads = sorted(t.name for t in threading.enumerate() if t.name.startswith("labkit-server"))
_servers = sorted(s.name for s in labkit.running_servers())
print("LEAKS", len(_threads), len(_servers), _threads)
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_runs_twice_in_one_kernel(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "raises-exception" not in c.metadata.get("tags", [])]
    cells = [nbformat.v4.new_code_cell(c.source) for c in code]
    cells += [nbformat.v4.new_code_cell(c.source) for c in code]
    twice = nbformat.v4.new_notebook(cells=[*cells, nbformat.v4.new_code_cell(LEAK_PROBE)])
    client = NotebookClient(twice, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    probe = "".join(o.get("text", "") for o in twice.cells[-1].outputs)
    _, threads, servers, *_ = probe.split(maxsplit=3)
    assert threads == servers, f"server threads without a registered server: {probe}"
