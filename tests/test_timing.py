"""labkit.timing and labkit.plots: medians, speedup, efficiency, quick mode, charts."""

from __future__ import annotations

import asyncio
import time

import matplotlib

matplotlib.use("Agg")

import labkit  # noqa: E402
from labkit.timing import Comparison, Timing, measure, pick, quick  # noqa: E402


def test_speedup_and_efficiency_from_medians():
    c = Comparison(Timing("seq", [2.0, 2.2, 1.9]), Timing("conc", [0.1, 0.2, 0.15]), ideal=20)
    assert c.speedup == 2.0 / 0.15
    assert abs(c.efficiency - (2.0 / 0.15) / 20) < 1e-12
    assert "13.3x faster" in c.summary() and "of the ideal 20x" in c.summary()
    table = c.table()
    assert "seq" in table and "conc" in table and "speedup: 13.3x" in table


def test_no_ideal_means_no_efficiency():
    c = Comparison(Timing("a", [1.0]), Timing("b", [0.5]))
    assert c.efficiency is None and "ideal" not in c.summary()


def test_quick_mode_follows_the_environment(monkeypatch):
    monkeypatch.delenv("LABKIT_QUICK", raising=False)
    assert not quick() and pick(20, 5) == 20
    for value in ("1", "true", "yes", "ON"):
        monkeypatch.setenv("LABKIT_QUICK", value)
        assert quick() and pick(20, 5) == 5
    monkeypatch.setenv("LABKIT_QUICK", "0")
    assert not quick()


def test_measure_times_each_run():
    t = measure(lambda: time.sleep(0.02), repeat=3, label="nap")
    assert len(t.seconds) == 3 and all(s >= 0.019 for s in t.seconds)
    assert t.label == "nap" and "median" in str(t)


def test_compare_runs_sync_and_async_workloads_and_sees_concurrency():
    async def concurrent() -> None:
        await asyncio.gather(*(asyncio.sleep(0.05) for _ in range(8)))

    def sequential() -> None:
        for _ in range(8):
            time.sleep(0.05)

    c = asyncio.run(labkit.compare(sequential, concurrent, repeat=2, ideal=8))
    assert len(c.baseline.seconds) == 2 and len(c.contender.seconds) == 2
    # Ideal is 8x; a loaded machine still leaves well over 2x.
    assert c.speedup > 2, c.table()


def test_chart_has_two_bars_and_the_speedup_in_the_title():
    import matplotlib.pyplot as plt

    c = Comparison(Timing("seq", [1.0, 1.1]), Timing("conc", [0.1, 0.12]), ideal=10)
    ax = labkit.plot(c)
    assert len(ax.patches) == 2
    assert "speedup" in ax.get_title()
    plt.close(ax.figure)


def test_percent_keeps_one_decimal_below_one_percent():
    from labkit.timing import percent

    assert (percent(0.953), percent(0.004), percent(0.0), percent(1.0)) == ("95%", "0.4%", "0.0%", "100%")
