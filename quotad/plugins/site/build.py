"""Render ``SiteData`` into a static bilingual site: ``/ja/`` and ``/en/`` with the same pages, one stylesheet.

Jinja2 with autoescape and ``StrictUndefined``: a company or model name cannot inject markup and a template
that asks for a value it was not given fails the build. Pages use relative links only, carry no script, and
each links to the same page in the other language, so the site works from any folder, from ``file://`` and
without JavaScript. Charts (``site.charts``) are SVG files under ``<lang>/charts/``, shown with ``<img>`` and
``alt`` text above the table that holds the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from quotad.charts.draw import draw_chart, svg_pixels
from quotad.outputs import output_folder, write_output
from quotad.plugins.api import LANGUAGES, Bilingual, Language, PublicCell
from quotad.plugins.site.charts import site_charts
from quotad.plugins.site.content import SiteData
from quotad.plugins.site.i18n import PAGES, UI

__all__ = ["build_site"]


def _cell(value: PublicCell, lang: Language) -> str:
    if value is None:
        return "—"
    if isinstance(value, Bilingual):
        return value.pick(lang)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.2f}"
    return value


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("quotad.plugins.site", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["hours"] = lambda v: f"{v:,.0f}"
    env.filters["eflops"] = lambda v: f"{v:,.2f}"
    return env


@dataclass(frozen=True)
class ChartImage:
    """A drawn chart as a page refers to it: relative ``src``, ``alt`` and the size it was drawn at (CSS px)."""

    src: str
    alt: str
    width: int
    height: int


def _image(src: str, alt: str, svg: bytes) -> ChartImage:
    width, height = svg_pixels(svg)
    return ChartImage(src, alt, width, height)


def _draw_charts(data: SiteData, lang: Language, folder: Path, out: Path, written: list[Path]) -> dict[str, ChartImage]:
    """Draw the language's charts into ``folder/charts``; by anchor (page section or table key)."""
    images: dict[str, ChartImage] = {}
    for chart in site_charts(data, lang):
        svg = draw_chart(chart.chart, fmt="svg")
        written.append(write_output(folder / "charts" / f"{chart.name}.svg", svg, make_folders_under=out))
        images[chart.anchor] = _image(f"charts/{chart.name}.svg", chart.alt, svg)
    return images


def build_site(data: SiteData, out: Path) -> list[Path]:
    """Write the site under ``out`` (created if missing); returns the files written.

    Through ``quotad.outputs``: a symbolic link already inside ``out`` is replaced, never followed, and a
    bad ``out`` (a file, not writable) is a ``UsageError``.
    """
    env = _environment()
    written: list[Path] = []
    output_folder(out)
    style = out / "style.css"
    css = files("quotad.plugins.site").joinpath("static/style.css").read_text("utf-8")
    written.append(write_output(style, css, make_folders_under=out))
    root = out / "index.html"
    html = env.get_template("root.html.j2").render(data=data, ui=UI, languages=LANGUAGES)
    written.append(write_output(root, html, make_folders_under=out))
    for lang in LANGUAGES:
        other: Language = "en" if lang == "ja" else "ja"
        folder = out / lang
        charts = _draw_charts(data, lang, folder, out, written)
        for page in PAGES:
            html = env.get_template(f"{page}.html.j2").render(
                data=data,
                lang=lang,
                other=other,
                page=page,
                pages=PAGES,
                t=lambda key, _lang=lang: UI[key].pick(_lang),
                pick=lambda value, _lang=lang: value.pick(_lang),
                cell=lambda value, _lang=lang: _cell(value, _lang),
                charts=charts,
            )
            written.append(write_output(folder / f"{page}.html", html, make_folders_under=out))
    return written
