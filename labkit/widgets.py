"""ipywidgets panels: pick sizes with sliders, press Measure, see the new chart and numbers.

    panel = MeasurementPanel(run, controls={"n": IntSlider(...), ...}, title="...")
    display(panel)            # the controls, a Measure button, the chart area
    await panel.refresh()     # draw the first chart now (also what the button does)

``run(**values)`` is a coroutine function returning a :class:`labkit.timing.Comparison`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import ipywidgets as w

from .plots import comparison_chart
from .timing import Comparison

__all__ = ["MeasurementPanel"]


class MeasurementPanel:
    """Controls + a Measure button + an output area that shows the latest chart and summary."""

    def __init__(self, run: Callable[..., Awaitable[Comparison]], *, controls: dict[str, w.ValueWidget],
                 title: str = "") -> None:
        self.run = run
        self.controls = controls
        self.title = title
        self.button = w.Button(description="Measure", icon="play", button_style="primary")
        self.status = w.HTML()
        self.output = w.Output()
        self.last: Comparison | None = None
        self._task: asyncio.Task[Any] | None = None
        self.button.on_click(self._clicked)
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        self.widget = w.VBox([*header, *controls.values(), w.HBox([self.button, self.status]), self.output])

    def _clicked(self, _: Any) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        # A button click has no caller to raise to: the failure is already shown in the panel.
        with contextlib.suppress(Exception):
            await self.refresh()

    async def refresh(self) -> Comparison:
        """Measure with the controls' current values and redraw; returns the new Comparison."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        values = {name: control.value for name, control in self.controls.items()}
        self.button.disabled = True
        self.status.value = "<i>measuring...</i>"
        try:
            comparison = await self.run(**values)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, the kernel keeps going
            self.status.value = f"<span style='color:#b00'>failed: {type(exc).__name__}: {exc}</span>"
            raise
        finally:
            self.button.disabled = False
        self.last = comparison
        settings = ", ".join(f"{k}={v}" for k, v in values.items())
        self.status.value = f"measured with {settings}"
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        comparison_chart(comparison, ax=ax, title=self.title or None)
        with self.output:
            self.output.clear_output(wait=True)
            display(fig)
            print(comparison.summary())
        plt.close(fig)
        return comparison

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
