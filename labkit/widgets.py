"""ipywidgets panels: pick sizes with sliders, press Measure, see the new chart and numbers.

    panel = MeasurementPanel(run, controls={"n": IntSlider(...), ...}, title="...")
    display(panel)            # the controls, a Measure button, the chart area
    await panel.refresh()     # draw the first chart now (also what the button does)

``run(**values)`` is a coroutine function returning a :class:`labkit.timing.Comparison`.

The chart is a PNG in an ``Image`` widget and the numbers an ``HTML`` widget: setting their ``value``
sends the new state to the browser whatever code does it, even a task a button click started. (Printing
into an ``Output`` widget from such a task shows nothing in JupyterLab: the front end routes output by
the cell that produced it, and a task started by a click has none.) :class:`ChartArea` is that pair.

A float slider's value is snapped to its step the way the browser computes it (``min + k * step``: 0.1
with min 0.01 and step 0.01 is 0.09999999999999999 there). Otherwise the browser corrects the value as
soon as the panel is drawn and sends it back while the cell still awaits ``panel.refresh()``; ipykernel 7
never acknowledges a widget message that arrives while a cell awaits, and ipywidgets then holds every later
change of that slider back, so moving it would no longer reach the kernel. The status line shows values
with the slider's own readout format.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
from collections.abc import Awaitable, Callable
from typing import Any

import ipywidgets as w

from .plots import comparison_chart
from .timing import Comparison

__all__ = ["ChartArea", "MeasurementPanel"]


class ChartArea:
    """A chart and a block of text that any code (a cell, a click's task, a thread) can replace."""

    def __init__(self) -> None:
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%", height="auto", display="none"))
        self.text = w.HTML()
        self.draws = 0
        self.widget = w.VBox([self.image, self.text])
        self.widget.add_class("labkit-chart-area")

    def show(self, figure: Any = None, text: str = "") -> None:
        """Replace the chart with a matplotlib ``figure`` (closed afterwards) and the text with ``text``."""
        if figure is not None:
            import matplotlib.pyplot as plt

            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=96)
            plt.close(figure)
            self.image.value = buffer.getvalue()
            self.image.layout.display = ""
        self.text.value = (f"<pre style='white-space: pre; overflow-x: auto; margin: 0'>{html.escape(text)}</pre>"
                           if text else "")
        self.draws += 1

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _snap_to_step(control: Any) -> None:
    """Give a float slider the value the browser's slider would compute for it (see the module's notes)."""
    if not isinstance(control, w.FloatSlider) or not control.step:
        return
    steps = round((control.value - control.min) / control.step)
    snapped = control.min + steps * control.step
    if snapped != control.value and control.min <= snapped <= control.max:
        control.value = snapped


def _shown(control: Any, value: Any) -> str:
    """A control's value as its readout shows it (0.09999999999999999 with format '.2f' is 0.10)."""
    fmt = getattr(control, "readout_format", None)
    if isinstance(value, float):
        try:
            return format(value, fmt or "g")
        except (TypeError, ValueError):
            return f"{value:g}"
    return str(value)


class MeasurementPanel:
    """Controls + a Measure button + a chart area that shows the latest chart and summary."""

    def __init__(self, run: Callable[..., Awaitable[Comparison]], *, controls: dict[str, w.ValueWidget],
                 title: str = "") -> None:
        self.run = run
        for control in controls.values():
            _snap_to_step(control)
        self.controls = controls
        self.title = title
        self.button = w.Button(description="Measure", icon="play", button_style="primary")
        self.status = w.HTML()
        self.chart = ChartArea()
        self.last: Comparison | None = None
        self._task: asyncio.Task[Any] | None = None
        self.button.on_click(self._clicked)
        header = [w.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        self.widget = w.VBox([*header, *controls.values(), w.HBox([self.button, self.status]), self.chart.widget])
        self.widget.add_class("labkit-panel")

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

        values = {name: control.value for name, control in self.controls.items()}
        self.button.disabled = True
        self.status.value = "<i>measuring...</i>"
        try:
            comparison = await self.run(**values)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, the kernel keeps going
            self.status.value = html.escape(f"failed: {type(exc).__name__}: {exc}")
            self.status.value = f"<span style='color:#b00'>{self.status.value}</span>"
            raise
        finally:
            self.button.disabled = False
        self.last = comparison
        settings = ", ".join(f"{k}={_shown(self.controls[k], v)}" for k, v in values.items())
        self.status.value = f"measured with {html.escape(settings)}"
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        comparison_chart(comparison, ax=ax, title=self.title or None)
        self.chart.show(fig, comparison.summary())
        return comparison

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
