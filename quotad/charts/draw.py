"""Drawing with matplotlib (Agg): imported here, on first use, never at CLI start-up."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quotad.charts.data import BurnDown, Chart, DayUse, ScoreCompute, Series
from quotad.errors import QuotadError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ChartError", "burn_down", "draw_chart", "pool_days", "score_vs_compute", "stacked_bars", "svg_pixels"]

#: Japanese first (Debian fonts-noto-cjk), then matplotlib's own for Latin text.
FONTS = ["Noto Sans CJK JP", "DejaVu Sans"]
FORMATS = ("svg", "png")


class ChartError(QuotadError):
    """A chart cannot be drawn: an unknown format, or a label the installed fonts cannot show."""


def _format(path: Path | str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ChartError(f"{path}: a chart is .svg or .png, not {suffix or 'no extension'!r}")
    return suffix


@contextmanager
def _figure(width: float = 9.0, height: float = 4.5) -> Iterator[Figure]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.family": FONTS, "svg.fonttype": "path", "axes.spines.top": False,
                                "axes.spines.right": False}):
        fig = Figure(figsize=(width, height), layout="constrained")
        yield fig


def _save(fig: Figure, target: Path | str | None, fmt: str) -> bytes:
    """Write the figure (``target`` None: return the bytes); a missing glyph is a ``ChartError``."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(buffer, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    if missing:
        raise ChartError(f"chart text needs a font the system lacks ({missing[0]}); install fonts-noto-cjk")
    data = buffer.getvalue()
    if target is not None:
        path = Path(target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            raise ChartError(f"{path}: cannot write the chart: {exc.strerror or exc}") from exc
    return data


def burn_down(chart: BurnDown, target: Path | str | None = None, *, fmt: str | None = None) -> bytes:
    """Plan curve, actual use, the 7-day-pace projection to the period end and the grant line."""
    kind = fmt or _format(target or "x.svg")
    with _figure() as fig:
        ax: Any = fig.add_subplot()
        x = range(len(chart.days))
        ax.plot(x, chart.plan, color="#888888", linestyle="--", label="plan / 計画")
        ax.plot(range(len(chart.actual)), chart.actual, color="#1f77b4", linewidth=2.2, label="actual / 実績")
        if chart.projection:
            first = max(len(chart.actual) - 1, 0)
            ax.plot(range(first, first + len(chart.projection)), chart.projection, color="#d62728", linestyle=":",
                    linewidth=2, label="projection (7-day pace) / 見込み・直近7日のペース")
        ax.axhline(chart.granted, color="#2ca02c", linewidth=1.5, label="grant / 割当")
        _day_ticks(ax, chart.days)
        ax.set_ylabel(chart.unit)
        ax.set_title(chart.title)
        ax.legend(loc="upper left", fontsize="small")
        return _save(fig, target, kind)


def pool_days(title: str, days: list[DayUse], target: Path | str | None = None, *, fmt: str | None = None) -> bytes:
    """Stacked bars per day: busy, allocated-idle, unallocated, maintenance (GPU-hours)."""
    kind = fmt or _format(target or "x.svg")
    parts = (("busy", "busy / 稼働", "#1f77b4"), ("allocated_idle", "allocated, idle / 割当済み・アイドル", "#ff7f0e"),
             ("unallocated", "unallocated / 未割当", "#cccccc"), ("maintenance", "maintenance / 保守", "#9467bd"))
    with _figure() as fig:
        ax: Any = fig.add_subplot()
        bottom = [0.0] * len(days)
        for attr, label, colour in parts:
            values = [float(getattr(d, attr)) for d in days]
            ax.bar(range(len(days)), values, bottom=bottom, label=label, color=colour, width=0.85)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        _day_ticks(ax, [d.day for d in days])
        ax.set_ylabel("GPU-h")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize="small")
        return _save(fig, target, kind)


def stacked_bars(chart: Series, target: Path | str | None = None, *, fmt: str | None = None) -> bytes:
    """One stacked bar per label (segments per name), or one line per name when ``chart.line``.

    A withheld value (None) is a gap with ``chart.withheld_mark`` on the axis, never a bar of 0.
    """
    from matplotlib.ticker import FuncFormatter

    kind = fmt or _format(target or "x.svg")
    with _figure() as fig:
        ax: Any = fig.add_subplot()
        x = range(len(chart.labels))
        bottom = [0.0] * len(chart.labels)
        withheld: set[int] = set()
        for name, values in chart.values.items():
            withheld.update(i for i, v in enumerate(values) if v is None)
            shown = [float("nan") if v is None else v for v in values]
            if chart.line:
                ax.plot(x, shown, marker="o", markersize=3, label=name)
            else:
                ax.bar(x, [0.0 if v is None else v for v in values], bottom=bottom, label=name, width=0.8)
                bottom = [b + (v or 0.0) for b, v in zip(bottom, values, strict=True)]
        for i in sorted(withheld):  # a hatched slot with the word: plainly no figure, not a bar of 0
            ax.axvspan(i - 0.4, i + 0.4, facecolor="none", edgecolor="#c8cdd3", hatch="//", linewidth=0)
            ax.text(i, 0.5, chart.withheld_mark, transform=ax.get_xaxis_transform(), ha="center", va="center",
                    rotation=90 if len(chart.labels) > 8 else 0, color="#5b6573", fontsize="small",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 2})
        _day_ticks(ax, list(chart.labels))
        ax.set_ylabel(chart.unit)
        drawn = any(v for values in chart.values.values() for v in values)
        ax.set_ylim(bottom=0, top=None if drawn else 1)
        if not drawn:
            ax.set_yticks([])  # nothing drawn: no scale that reads as figures
        ax.set_title(chart.title)
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        if len(chart.values) > 1:  # beside the plot, so it never hides a bar
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
        return _save(fig, target, kind)


def _thousands(value: float, _pos: int) -> str:
    """Axis numbers as people read amounts: 600,000 rather than 600000 (small values keep their decimals)."""
    return f"{value:,.0f}" if abs(value) >= 1000 or value == int(value) else f"{value:,.2g}"


#: One colour per company (matplotlib's tab10, colour-blind safer order first).
_GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf")


def score_vs_compute(chart: ScoreCompute, target: Path | str | None = None, *, fmt: str | None = None) -> bytes:
    """Score (y) against GPU-hours (x, log scale), one point per model labelled with its name; a filled marker
    where the GPU-hours are the model's own (linked), a hollow one where they are the company's total."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    kind = fmt or _format(target or "x.svg")
    with _figure(10.0, 5.0) as fig:
        ax: Any = fig.add_subplot()
        groups = list(dict.fromkeys(p.group for p in chart.points))
        colour = {g: _GROUP_COLOURS[i % len(_GROUP_COLOURS)] for i, g in enumerate(groups)}
        for point in chart.points:
            c = colour[point.group]
            ax.scatter([max(point.gpu_hours, 0.1)], [point.score], s=56, color=c, linewidths=1.6,
                       facecolors=c if point.linked else "white", edgecolors=c, zorder=3)
            ax.annotate(point.label, (max(point.gpu_hours, 0.1), point.score), xytext=(6, 4),
                        textcoords="offset points", fontsize="small", color="#1c2430")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(chart.compute_label)
        ax.set_ylabel(chart.score_label)
        ax.set_title(chart.title)
        ax.grid(True, which="major", color="#e5e8ec", linewidth=0.8)
        if chart.points:
            low, high = min(p.score for p in chart.points), max(p.score for p in chart.points)
            ax.set_ylim(max(0.0, low - 10), min(100.0, high + 10) if high <= 100 else high + 10)
            hours = [max(p.gpu_hours, 0.1) for p in chart.points]
            ax.set_xlim(min(hours) / 2, max(hours) * 3)  # room for the labels right of the points
            wide = max(hours) / min(hours) > 30  # over ~1.5 decades: 1, 10, 100; else 1, 2, 5, 10, 20, 50
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
        handles = [Line2D([], [], marker="o", linestyle="", color=colour[g], label=g) for g in groups]
        kinds = {p.linked for p in chart.points}
        if True in kinds:
            handles.append(Line2D([], [], marker="o", linestyle="", color="#5b6573", label=chart.linked_label))
        if False in kinds:
            handles.append(Line2D([], [], marker="o", linestyle="", color="#5b6573", markerfacecolor="white",
                                  label=chart.total_label))
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
        return _save(fig, target, kind)


def draw_chart(chart: Chart, target: Path | str | None = None, *, fmt: str | None = None) -> bytes:
    """Any chart data with its drawing (burn-down, bars or lines, score against compute)."""
    if isinstance(chart, BurnDown):
        return burn_down(chart, target, fmt=fmt)
    if isinstance(chart, ScoreCompute):
        return score_vs_compute(chart, target, fmt=fmt)
    return stacked_bars(chart, target, fmt=fmt)


def _day_ticks(ax: Any, labels: list[str] | tuple[str, ...]) -> None:
    """At most ~12 labelled ticks, so a year of days stays readable."""
    step = max(1, len(labels) // 12)
    ticks = list(range(0, len(labels), step))
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=45, ha="right", fontsize="small")


_SVG_SIZE = re.compile(rb'<svg[^>]*\swidth="([\d.]+)pt"\s+height="([\d.]+)pt"')


def svg_pixels(svg: bytes) -> tuple[int, int]:
    """The drawn SVG's size in CSS pixels (matplotlib writes points), for ``<img width height>`` so a page keeps
    the chart's room before the image loads."""
    size = _SVG_SIZE.search(svg[:2000])
    if size is None:
        return 864, 432
    return round(float(size.group(1)) * 4 / 3), round(float(size.group(2)) * 4 / 3)
