"""Charts for the lessons' measurements (matplotlib; render inline in JupyterLab)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .load import LoadResult
from .timing import Comparison

__all__ = ["plot", "comparison_chart", "Span", "timeline_chart", "throughput_chart", "latency_chart", "load_charts",
           "sweep_chart"]

_COLORS = ("#8c8c8c", "#2a7ab9")


def plot(result: Comparison | LoadResult | Sequence[LoadResult], *, ax: Any = None, title: str | None = None) -> Any:
    """Draw whatever a measurement returned: a ``Comparison`` as bars, load results as throughput and latency."""
    if isinstance(result, Comparison):
        return comparison_chart(result, ax=ax, title=title)
    if isinstance(result, LoadResult):
        result = [result]
    if ax is not None:
        raise TypeError("load results draw two charts side by side: call plot() without ax=")
    return load_charts(list(result), title=title)


def comparison_chart(comparison: "Comparison", ax: Any = None, title: str | None = None) -> Any:
    """Bars for the two medians, a dot per run, and the speedup in the title."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2))
    timings = (comparison.baseline, comparison.contender)
    labels = [t.label for t in timings]
    medians = [t.median for t in timings]
    ax.bar(labels, medians, color=_COLORS, width=0.55)
    for i, t in enumerate(timings):
        # dots to the right of the bar's centre, the value label above the highest dot: they never overlap
        ax.scatter([i + 0.18] * len(t.seconds), t.seconds, color="black", s=12, zorder=3)
        ax.annotate(f"{t.median:.3f} s", (i, max([t.median, *t.seconds])), textcoords="offset points",
                    xytext=(0, 6), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("seconds (median, dots = runs)")
    ax.set_ylim(0, max(max(t.seconds) for t in timings) * 1.25)
    heading = title or "Sequential vs concurrent"
    extra = f"speedup {comparison.speedup:.1f}x"
    if comparison.ideal:
        extra += f" of ideal {comparison.ideal:g}x"
    ax.set_title(f"{heading}\n{extra}", fontsize=10)
    ax.figure.tight_layout()
    return ax


@dataclass(frozen=True)
class Span:
    """One request on a timeline: sent (or queued) at ``start``, answered at ``end`` (seconds).

    ``ran_from``, when known, is the moment the work itself began (after waiting for a worker thread,
    say): the chart draws ``start`` to ``ran_from`` as a pale "waiting" bar and the rest solid.
    """

    label: str
    start: float
    end: float
    ran_from: float | None = None

    @property
    def seconds(self) -> float:
        """How long the request took from start to end."""
        return self.end - self.start


_TIMELINE_COLORS = ("#2a7ab9", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")


def timeline_chart(spans: Sequence[Span], ax: Any = None, title: str | None = None,
                   sort: bool = False) -> Any:
    """One horizontal bar per request, from its start to its end; one colour per label.

    Requests that overlapped in time have bars side by side; requests served one after another form a
    staircase. ``sort=True`` orders the bars by end time. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if not spans:
        raise ValueError("timeline_chart needs at least one span")
    rows = sorted(spans, key=lambda s: (s.end, s.start)) if sort else list(spans)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, min(0.5 + 0.18 * len(rows), 6)))
    colors: dict[str, str] = {}
    for y, span in enumerate(rows):
        color = colors.setdefault(span.label, _TIMELINE_COLORS[len(colors) % len(_TIMELINE_COLORS)])
        ran_from = span.start if span.ran_from is None else span.ran_from
        if ran_from > span.start:
            ax.barh(y, ran_from - span.start, left=span.start, height=0.8, color=color, alpha=0.25)
        ax.barh(y, span.end - ran_from, left=ran_from, height=0.8, color=color,
                label=span.label if span.label not in ax.get_legend_handles_labels()[1] else None)
    ax.set_xlabel("seconds since the first request started")
    ax.set_ylabel("request")
    ax.set_xlim(left=0, right=max(s.end for s in rows) * 1.05)
    ax.invert_yaxis()
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.tight_layout()
    return ax


_PERCENTILE_COLORS = ("#2a7ab9", "#f0a030", "#c03030")


def throughput_chart(results: "Sequence[LoadResult]", ax: Any = None, title: str | None = None) -> Any:
    """One bar per load run: requests per second, labelled with the run's label and concurrency."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2))
    labels = [f"{r.label}\n(c={r.concurrency})" for r in results]
    values = [r.requests_per_second for r in results]
    ax.bar(range(len(results)), values, color=_COLORS[1], width=0.55)
    ax.set_xticks(range(len(results)), labels, fontsize=8)
    for i, (value, r) in enumerate(zip(values, results)):
        note = f"{value:.0f}/s" + (f"\n{r.errors} err" if r.errors else "")
        ax.annotate(note, (i, value), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax.set_ylabel("requests per second")
    ax.set_ylim(0, max(values + [1.0]) * 1.25)
    ax.set_title(title or "Throughput", fontsize=10)
    ax.figure.tight_layout()
    return ax


def latency_chart(results: "Sequence[LoadResult]", ax: Any = None, title: str | None = None,
                  percentiles: "Sequence[float]" = (50, 95, 99)) -> Any:
    """Grouped bars per load run: latency percentiles in milliseconds (nearest rank, successful requests)."""
    import math

    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.2))
    width = 0.8 / len(percentiles)
    top = 1.0
    for j, q in enumerate(percentiles):
        values = [r.percentile(q) * 1000 for r in results]
        values = [0.0 if math.isnan(v) else v for v in values]
        top = max([top, *values])
        xs = [i + (j - (len(percentiles) - 1) / 2) * width for i in range(len(results))]
        ax.bar(xs, values, width=width, label=f"p{q:g}", color=_PERCENTILE_COLORS[j % len(_PERCENTILE_COLORS)])
    ax.set_xticks(range(len(results)), [f"{r.label}\n(c={r.concurrency})" for r in results], fontsize=8)
    ax.set_ylabel("latency, ms")
    ax.set_ylim(0, top * 1.2)
    ax.legend(fontsize=8)
    ax.set_title(title or "Latency percentiles", fontsize=10)
    ax.figure.tight_layout()
    return ax


def load_charts(results: "Sequence[LoadResult]", title: str | None = None) -> Any:
    """Throughput and latency percentiles side by side for several load runs; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    throughput_chart(results, ax=left)
    latency_chart(results, ax=right)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def sweep_chart(results: "Sequence[LoadResult]", x: "Sequence[float]", xlabel: str,
                title: str | None = None) -> Any:
    """Runs that vary one setting (concurrency, pool size, upstream latency...): throughput and
    p50/p95/p99 latency as lines against that setting's values ``x``; returns the Figure."""
    import matplotlib.pyplot as plt

    if len(x) != len(results):
        raise ValueError(f"one x value per result: got {len(x)} values for {len(results)} results")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    left.plot(x, [r.requests_per_second for r in results], marker="o", color=_COLORS[1])
    left.set_xlabel(xlabel)
    left.set_ylabel("requests per second")
    left.set_ylim(bottom=0)
    left.set_title("Throughput", fontsize=10)
    for q, color in zip((50, 95, 99), _PERCENTILE_COLORS):
        right.plot(x, [r.percentile(q) * 1000 for r in results], marker="o", color=color, label=f"p{q}")
    right.set_xlabel(xlabel)
    right.set_ylabel("latency, ms")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    right.set_title("Latency percentiles", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
