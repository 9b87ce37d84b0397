"""Charts for the lessons' measurements (matplotlib; render inline in JupyterLab)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .timing import Comparison

__all__ = ["comparison_chart"]

_COLORS = ("#8c8c8c", "#2a7ab9")


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
        ax.scatter([i] * len(t.seconds), t.seconds, color="black", s=12, zorder=3)
        ax.annotate(f"{t.median:.3f} s", (i, t.median), textcoords="offset points", xytext=(0, 4),
                    ha="center", fontsize=9)
    ax.set_ylabel("seconds (median, dots = runs)")
    ax.set_ylim(0, max(max(t.seconds) for t in timings) * 1.2)
    heading = title or "Sequential vs concurrent"
    extra = f"speedup {comparison.speedup:.1f}x"
    if comparison.ideal:
        extra += f" of ideal {comparison.ideal:g}x"
    ax.set_title(f"{heading}\n{extra}", fontsize=10)
    ax.figure.tight_layout()
    return ax
