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


def test_a_click_redraws_the_chart_through_widget_values():
    # The browser only sees state changes sent through the widgets' comms: the chart is an Image's value.
    async def run(n: int) -> Comparison:
        await asyncio.sleep(0)
        return Comparison(Timing("seq", [0.1 * n]), Timing("conc", [0.1]), ideal=n)

    slider = w.IntSlider(value=2, min=1, max=40)
    panel = MeasurementPanel(run, controls={"n": slider})
    sent: list[dict] = []
    panel.chart.image.comm.send = lambda data=None, **kw: sent.append(data or {})  # what goes to the browser

    async def click_twice() -> list[bytes]:
        images = []
        for value in (2, 30):
            slider.value = value
            panel.button.click()
            await panel._task
            images.append(bytes(panel.chart.image.value))
        return images

    first, second = asyncio.run(click_twice())
    assert first.startswith(b"\x89PNG") and second.startswith(b"\x89PNG") and first != second
    assert "n=30" in panel.status.value and "30" in panel.chart.text.value
    assert panel.chart.draws == 2
    assert sum(1 for m in sent if ["value"] in m.get("buffer_paths", [])) == 2, sent   # the PNG, as a binary buffer


def test_chart_area_shows_text_without_a_figure_and_escapes_it():
    from labkit.widgets import ChartArea

    chart = ChartArea()
    chart.show(text="a < b")
    assert "a &lt; b" in chart.text.value and chart.image.layout.display == "none"


def test_a_float_slider_gets_the_value_the_browser_computes_and_the_status_shows_its_readout():
    latency = w.FloatSlider(value=0.1, min=0.01, max=0.2, step=0.01, readout_format=".2f")

    async def run(latency: float) -> Comparison:
        return Comparison(Timing("seq", [latency]), Timing("conc", [latency / 2]), ideal=2)

    panel = MeasurementPanel(run, controls={"latency": latency})
    # The browser's slider works in min + k * step: left alone, it would send this value back at once.
    assert latency.value == 0.01 + 9 * 0.01 and latency.value != 0.1
    asyncio.run(panel.refresh())
    assert "latency=0.10" in panel.status.value
    aligned = w.FloatSlider(value=0.05, min=0.0, max=1.0, step=0.05)
    MeasurementPanel(run, controls={"latency": aligned})
    assert aligned.value == 0.05
