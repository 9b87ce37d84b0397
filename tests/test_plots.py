"""labkit.plots.timeline_chart: one bar per request, waiting drawn pale, one legend entry per label."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from labkit.plots import Span, timeline_chart  # noqa: E402


def test_one_bar_per_span_plus_one_per_wait_and_a_legend_per_label():
    import matplotlib.pyplot as plt

    spans = [Span("blocking", 0.0, 0.1), Span("blocking", 0.0, 0.2), Span("ping", 0.0, 0.25, ran_from=0.2)]
    ax = timeline_chart(spans, title="three requests")
    try:
        assert len(ax.patches) == 4, "three requests, one of which also waited"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["blocking", "ping"]
        assert ax.get_title() == "three requests"
        assert ax.get_xlim()[1] >= 0.25
        waited = [p for p in ax.patches if p.get_alpha() == 0.25]
        assert len(waited) == 1 and waited[0].get_width() == pytest.approx(0.2)
    finally:
        plt.close(ax.figure)


def test_sort_orders_bars_by_end_time_and_empty_input_is_an_error():
    import matplotlib.pyplot as plt

    ax = timeline_chart([Span("a", 0.0, 0.3), Span("a", 0.0, 0.1), Span("a", 0.0, 0.2)], sort=True)
    try:
        widths = [p.get_width() for p in sorted(ax.patches, key=lambda p: p.get_y())]
        assert widths == pytest.approx([0.1, 0.2, 0.3])
        assert Span("a", 0.5, 0.75).seconds == pytest.approx(0.25)
    finally:
        plt.close(ax.figure)
    with pytest.raises(ValueError):
        timeline_chart([])
