"""The site's pictures: drawn from ``SiteData`` (which already holds only what the site may publish) and from
the plugins' ``PublicChart`` shares, one SVG per chart and language under ``<lang>/charts/``.

Why from ``SiteData`` and nothing else: the disclosure decision is made once, in ``content``; a chart cannot
show a withheld month (it is a gap marked as withheld, not a bar) or an undisclosed company (only
``SiteData.disclosed`` companies are drawn), because it is never handed either. Every chart sits above the
table that holds the same figures, so the table stays the accessible form and the image carries ``alt`` text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from quotad.charts.data import Chart, Series
from quotad.plugins.api import Bilingual, Language
from quotad.plugins.site.content import PublishError, SiteData

__all__ = ["SiteChart", "site_charts"]

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class SiteChart:
    """One chart of one page: its file under ``<lang>/charts/``, where it goes and its text alternative."""

    name: str  # file stem: "compute-monthly", or "<plugin>-<key>"
    anchor: str  # where it goes: "monthly" / "by-company" on the compute page, "<plugin>/<table key>" on results
    chart: Chart
    alt: str


_WITHHELD = Bilingual("非公開", "withheld")


def _monthly(data: SiteData, lang: Language) -> SiteChart | None:
    if not data.months:
        return None
    hours = tuple(None if m.compute is None else m.compute.gpu_hours for m in data.months)
    label = Bilingual("GPU 時間", "GPU-hours").pick(lang)
    title = Bilingual("月別の GPU 時間 (プログラム全体)", "GPU-hours per month, whole programme").pick(lang)
    series = Series(title, label, tuple(m.month for m in data.months), {label: hours},
                    withheld_mark=_WITHHELD.pick(lang))
    withheld = [m.month for m in data.months if m.compute is None]
    alt = Bilingual(
        f"棒グラフ: プログラム全体の月別 GPU 時間 ({len(data.months)} か月)。"
        + (f"非公開の月: {', '.join(withheld)}。" if withheld else "")
        + "数値は下の表にあります。",
        f"Bar chart: the whole programme's GPU-hours per month ({len(data.months)} months)."
        + (f" Withheld months: {', '.join(withheld)}." if withheld else "")
        + " The figures are in the table below.",
    )
    return SiteChart("compute-monthly", "monthly", series, alt.pick(lang))


def _by_company(data: SiteData, lang: Language) -> SiteChart | None:
    companies = data.disclosed
    if not companies or not data.months:
        return None
    values: dict[str, tuple[float | None, ...]] = {}
    for company in companies:
        values[company.name.pick(lang)] = tuple(
            m.disclosed[company.id].gpu_hours if company.id in m.disclosed else 0.0 for m in data.months
        )
    title = Bilingual("企業別の月別 GPU 時間 (公開に同意した企業)", "GPU-hours per month by company (companies that "
                      "publish theirs)").pick(lang)
    series = Series(title, Bilingual("GPU 時間", "GPU-hours").pick(lang), tuple(m.month for m in data.months), values)
    alt = Bilingual(
        f"積み上げ棒グラフ: 公開に同意した {len(companies)} 社の月別 GPU 時間。数値は下の表にあります。",
        f"Stacked bar chart: GPU-hours per month of the {len(companies)} companies that publish their figures. "
        "The figures are in the table below.",
    )
    return SiteChart("compute-by-company", "by-company", series, alt.pick(lang))


def site_charts(data: SiteData, lang: Language) -> list[SiteChart]:
    """Every chart of the site in ``lang``: the compute page's two, then each plugin's, in plugin order.

    A plugin chart whose key is not a plain file name is an error of that plugin, not a path to write to.
    """
    charts = [c for c in (_monthly(data, lang), _by_company(data, lang)) if c is not None]
    for contribution in data.contributions:
        tables = {t.key for t in contribution.content.tables}
        for chart in contribution.content.charts:
            if not _SAFE_KEY.match(chart.key) or chart.table not in tables:
                raise PublishError(
                    f"plugin {contribution.plugin!r}: chart {chart.key!r} needs a plain key and one of its own "
                    f"tables (got table {chart.table!r})"
                )
            anchor = f"{contribution.plugin}/{chart.table}"
            charts.append(SiteChart(f"{contribution.plugin}-{chart.key}", anchor, chart.pick(lang),
                                    chart.alt.pick(lang)))
    return charts
