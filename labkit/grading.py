"""Grade a learner's notebook: run its Setup and exercise cells in a kernel, then the same checks
the learner's self-check cells run.

Cell tags (set in the solutions, carried into the learner edition):

* ``setup``: cells every exercise needs (imports, reference code). Run first, in order.
* ``exercise:<id>``: the cell(s) where the learner writes exercise ``<id>`` (e.g. ``exercise:01.fetch_all``).
* ``check:<id>``: the learner's self-check cell for that exercise (the grader does not run it).

A notebook that does not parse, a setup cell that fails, a hanging cell (interrupted after the
time limit) or a deleted exercise cell costs only the exercises it affects; each verdict says why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat

from .checks import ERROR, MISSING, Result, get_exercise

__all__ = ["NotebookGrader", "cells_tagged"]

_OUTPUT_LIMIT = 2000


def cells_tagged(nb: Any, tag: str) -> list[int]:
    """Indexes of the cells that carry ``tag``, in notebook order."""
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^(async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", source, re.M) is not None


class NotebookGrader:
    """One kernel for one notebook. Use as a context manager; call :meth:`grade` per exercise."""

    def __init__(self, path: Path | str, *, cell_timeout: float = 60.0, kernel_name: str = "python3") -> None:
        self.path = Path(path)
        self.cell_timeout = cell_timeout
        self.kernel_name = kernel_name
        self.problem: str | None = None
        self.setup_errors: list[str] = []
        self._client: Any = None
        self._kernel_cm: Any = None
        try:
            self.nb = nbformat.read(self.path, as_version=4)
        except FileNotFoundError:
            self.nb = None
            self.problem = f"{self.path.name} is missing from the submission"
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            self.nb = None
            self.problem = f"{self.path.name} is not a readable notebook ({type(exc).__name__}: {exc})"

    # -- kernel lifecycle ------------------------------------------------------------------
    def __enter__(self) -> "NotebookGrader":
        if self.nb is None:
            return self
        from testbook.client import TestbookNotebookClient

        code_cells = [c for c in self.nb.cells if c.cell_type == "code"]
        work = nbformat.v4.new_notebook(cells=code_cells, metadata=self.nb.metadata)
        self._client = TestbookNotebookClient(
            work, timeout=self.cell_timeout, kernel_name=self.kernel_name, allow_errors=True,
            interrupt_on_timeout=True, resources={"metadata": {"path": str(self.path.parent)}},
        )
        self._kernel_cm = self._client.setup_kernel()
        self._kernel_cm.__enter__()
        for index in cells_tagged(work, "setup"):
            error = self._run(index)
            if error:
                self.setup_errors.append(error)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._kernel_cm is not None:
            self._kernel_cm.__exit__(None, None, None)
            self._kernel_cm = None

    # -- running cells ---------------------------------------------------------------------
    def _run(self, index: int) -> str | None:
        """Execute one cell; return a one-line description of its error, or None."""
        cell = self._client.nb.cells[index]
        first = (cell.source.strip().splitlines() or ["(empty)"])[0][:60]
        try:
            self._client.execute_cell(index)
        except Exception as exc:  # noqa: BLE001 - timeouts and kernel deaths land here
            return f"cell `{first}` did not finish: {type(exc).__name__}: {exc}"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell `{first}` raised {out.get('ename')}: {out.get('evalue', '')[:300]}"
        return None

    def _exercise_cells(self, ex_id: str, target: str) -> list[int]:
        found = cells_tagged(self._client.nb, f"exercise:{ex_id}")
        if found:
            return found
        # Tags can be lost when a learner re-creates a cell: fall back to the cell that defines it.
        return [i for i, c in enumerate(self._client.nb.cells) if _defines(c.source, target)][-1:]

    def grade(self, ex_id: str) -> Result:
        """Run exercise ``ex_id``'s cells and its check in this notebook's kernel."""
        ex = get_exercise(ex_id)

        def verdict(status: str, message: str) -> Result:
            return Result(ex_id, status, message, 0, ex.points)

        if self.nb is None or self._client is None:
            return verdict(MISSING, self.problem or "the notebook was not opened")
        cells = self._exercise_cells(ex_id, ex.target)
        if not cells:
            return verdict(MISSING, f"no cell defines `{ex.target}`: was the exercise cell deleted?")
        for index in cells:
            error = self._run(index)
            if error:
                return verdict(ERROR, f"the exercise cell failed: {error}")
        code = ("import labkit.checks as _lk_checks\n"
                f"print('LABKIT-RESULT:' + _lk_checks.run_check({ex_id!r}).to_json())")
        try:
            cell = self._client.inject(code, pop=True)
        except Exception as exc:  # noqa: BLE001
            return verdict(ERROR, f"the check could not run: {type(exc).__name__}: {exc}")
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        marker = text.rfind("LABKIT-RESULT:")
        if marker < 0:
            return verdict(ERROR, "the check printed no verdict: " + text[-_OUTPUT_LIMIT:])
        try:
            result = Result.from_json(text[marker + len("LABKIT-RESULT:"):].splitlines()[0])
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return verdict(ERROR, f"unreadable verdict: {exc}")
        if not result.passed and self.setup_errors:
            note = "; ".join(self.setup_errors)
            result = Result(result.id, result.status, f"{result.message} (note: a Setup cell failed: {note})",
                            result.points, result.max_points)
        return result
