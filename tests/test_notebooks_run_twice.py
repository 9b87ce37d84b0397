"""Every lesson, in both editions, runs top to bottom in a fresh kernel, then again in the same kernel.

The first pass is a learner's "Restart Kernel and Run All": every code cell must run without an error
within CELL_TIMEOUT seconds, except that a cell tagged ``raises-exception`` may raise, and a cell tagged
``nbval-skip`` is not run (nbval's tags and ``# NBVAL_...`` comments, so ``nbval`` over a folder, as the
Binder simulation does, agrees). The second pass runs the same cells again, without the ``raises-exception``
ones: re-running cells must neither break nor leak, and a probe at the end counts server threads.

One kernel does both: the first pass is the single run the suite used to make separately with nbval.
A failure names the pass and the code cell (numbered like nbval's ``Cell N``) and shows its traceback.
"""

from __future__ import annotations

import json
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError

from apps import ROOT
from labkit import services

NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 180  # seconds, per cell
ANSI = re.compile(r"\x1b\[[0-9;]*m")

PROBE = """
import json as _json, sys as _sys, threading as _threading, labkit as _labkit
import labkit.services as _services, psutil as _psutil
print(_json.dumps({
    "threads": sorted(t.name for t in _threading.enumerate() if t.name.startswith("labkit-server")),
    "servers": sorted(s.name for s in _labkit.running_servers()),
    "processes": sorted(p.name() for p in _psutil.Process().children(recursive=True)),
    "data folders": sorted(str(s.folder) for s in _services.history() if s.folder.exists()),
    "python": _sys.executable,
}))
"""


def _marks(cell: nbformat.NotebookNode) -> set[str]:
    """nbval's markers on a cell: its tags, and ``# NBVAL_RAISES_EXCEPTION``-style comments as tags."""
    marks = set(cell.metadata.get("tags", []))
    for line in cell.source.splitlines():
        comment = line.strip().lstrip("#").strip()
        if line.strip().startswith("#") and comment.startswith("NBVAL_"):
            marks.add(comment.lower().replace("_", "-"))
    return marks


Cells = list[tuple[int | str, nbformat.NotebookNode]]  # (code cell number, cell)


def passes(nb: nbformat.NotebookNode) -> tuple[Cells, Cells]:
    """The (code cell number, cell) pairs of the first and of the second pass."""
    code = [(n, c) for n, c in enumerate(c for c in nb.cells if c.cell_type == "code")]
    first: Cells = []
    for n, cell in code:
        marks = _marks(cell)
        if "nbval-check-output" in marks:
            raise ValueError(f"code cell {n} asks nbval to compare outputs: committed notebooks have none to compare")
        if "nbval-skip" in marks:
            continue
        tags = ["raises-exception"] if "raises-exception" in marks or "nbval-raises-exception" in marks else []
        first.append((n, nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags})))
    second = [(n, nbformat.v4.new_code_cell(c.source)) for n, c in first
              if "raises-exception" not in c.metadata["tags"]]
    return first, second


def run(client: NotebookClient, cells: Cells, what: str) -> None:
    for n, cell in cells:
        index = len(client.nb.cells)
        client.nb.cells.append(cell)
        try:
            client.execute_cell(cell, index)
        except (CellExecutionError, CellControlSignal, DeadKernelError) as exc:
            # CellExecutionError's text holds the cell's source and the kernel's traceback (colours dropped).
            text = ANSI.sub("", str(exc))
            pytest.fail(f"{what}: code cell {n} failed ({type(exc).__name__}):\n{text}", pytrace=False)


def test_passes_follow_nbvals_markers():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("# NBVAL_RAISES_EXCEPTION\nraise ValueError"),
        nbformat.v4.new_code_cell("never()", metadata={"tags": ["nbval-skip"]}),
        nbformat.v4.new_code_cell("# NBVAL_SKIP\nnever()"),
        nbformat.v4.new_code_cell("b = a"),
    ])
    first, second = passes(nb)
    assert [n for n, _ in first] == [0, 1, 2, 5]
    assert [c.metadata["tags"] for _, c in first] == [[], ["raises-exception"], ["raises-exception"], []]
    assert [n for n, _ in second] == [0, 5]
    nb.cells.append(nbformat.v4.new_code_cell("x", metadata={"tags": ["nbval-check-output"]}))
    with pytest.raises(ValueError, match="compare outputs"):
        passes(nb)


@pytest.mark.slow
def test_a_failing_cell_is_reported_with_its_pass_number_and_traceback(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("runs = globals().get('runs', 0) + 1"),
        nbformat.v4.new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}),
        nbformat.v4.new_code_cell("def boom():\n    raise RuntimeError(f'second run broke: {runs}')\nif runs == 2:\n    boom()"),
    ])
    first, second = passes(nb)
    client = NotebookClient(nbformat.v4.new_notebook(), timeout=30, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        run(client, first, "demo, first run")  # the raises-exception cell may raise
        with pytest.raises(pytest.fail.Exception) as failed:
            run(client, second, "demo, run again in the same kernel")
    message = str(failed.value)
    assert "demo, run again in the same kernel: code cell 2 failed" in message
    assert "if runs == 2:" in message  # the cell's source
    assert "RuntimeError: second run broke: 2" in message and "boom()" in message  # its traceback


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_runs_twice_in_one_kernel(path):
    nb = nbformat.read(path, as_version=4)
    uses_servers = any("labkit.services.require(" in c.source for c in nb.cells)   # lesson 10: Redis, PostgreSQL
    if uses_servers and not all(services.available().values()):
        pytest.skip(f"{path.name} needs Redis and PostgreSQL: {services.missing_message().splitlines()[2].strip()}")
    first, second = passes(nb)
    name = f"{path.parent.name}/{path.name}"
    client = NotebookClient(nbformat.v4.new_notebook(), timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        run(client, first, f"{name}, first run")
        run(client, second, f"{name}, run again in the same kernel")
        probe = nbformat.v4.new_code_cell(PROBE)
        run(client, [("(leak probe)", probe)], name)
    found = json.loads("".join(o.get("text", "") for o in probe.outputs))
    assert found["python"] == sys.executable, f"the kernel ran {found['python']}, not this environment's Python"
    assert len(found["threads"]) == len(found["servers"]), f"server threads without a registered server: {found}"
    if uses_servers:
        assert not found["processes"], f"child processes still running after the last cell: {found['processes']}"
        assert not found["data folders"], f"server data folders left behind: {found['data folders']}"
