"""labkit.widgets: the panel measures with the controls' values and shows the result."""

from __future__ import annotations

import asyncio

import ipywidgets as w
import matplotlib

matplotlib.use("Agg")

from labkit.timing import Comparison, Timing  # noqa: E402
from labkit.widgets import MeasurementPanel  # noqa: E402


def test_refresh_uses_control_values_and_keeps_the_result():
    seen = {}

    async def run(n: int, latency: float) -> Comparison:
        seen.update(n=n, latency=latency)
        return Comparison(Timing("seq", [n * latency]), Timing("conc", [latency]), ideal=n)

    panel = MeasurementPanel(run, controls={"n": w.IntSlider(value=7), "latency": w.FloatSlider(value=0.5)},
                             title="demo")
    result = asyncio.run(panel.refresh())
    assert seen == {"n": 7, "latency": 0.5}
    assert panel.last is result and abs(result.speedup - 7) < 1e-9
    assert "n=7" in panel.status.value
    assert not panel.button.disabled


def test_a_failing_measurement_is_shown_and_the_button_comes_back():
    async def run(n: int) -> Comparison:
        raise ConnectionError("server gone")

    panel = MeasurementPanel(run, controls={"n": w.IntSlider(value=1)})
    try:
        asyncio.run(panel.refresh())
    except ConnectionError:
        pass
    assert "server gone" in panel.status.value
    assert not panel.button.disabled
