"""Charts (matplotlib, Agg): Japanese labels render with the Debian CJK font and a glyph no font has is an error;
SVG and PNG; ``quotad report --chart``; a burn-down whose curves match the ledger; and the drawn chart opened in
headless Chromium and screenshotted (it is a picture a browser shows, not just bytes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quotad.charts import (
    BurnDown,
    ChartError,
    DayUse,
    ScorePoint,
    Series,
    burn_down,
    draw_chart,
    pool_days,
    score_compute,
    score_vs_compute,
    stacked_bars,
)
from quotad.charts import draw as draw_module
from quotad.charts.ledger import burn_down_data, monthly_use_data
from quotad.config import Settings
from quotad.ledger.queries import list_companies
from quotad.units import GpuCatalog
from tests.conftest import Cli
from tests.fixtures.policy.builders import DAY, H, Ledger, utc
from tests.test_report_ranges import ready  # noqa: F401 (the report fixture: a small ledger through the CLI)
from tests.test_site_build import chromium

JAPANESE = Series("企業別の月間利用（さくらAI株式会社）", "GPU時間", ("2026-10", "2026-11"),
                  {"さくらAI": (10.0, 20.0), "かえでラボ": (5.0, 1.0)})


def test_japanese_labels_render_in_svg_and_png_without_missing_glyphs(tmp_path: Path) -> None:
    svg = stacked_bars(JAPANESE, tmp_path / "ja.svg")
    png = stacked_bars(JAPANESE, tmp_path / "ja.png")
    assert svg.startswith(b"<?xml") and b"<svg" in svg and (tmp_path / "ja.svg").read_bytes() == svg
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_a_label_the_fonts_cannot_show_is_an_error_not_tofu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(draw_module, "FONTS", ["DejaVu Sans"])  # a system without fonts-noto-cjk
    with pytest.raises(ChartError, match="fonts-noto-cjk"):
        stacked_bars(JAPANESE, tmp_path / "tofu.png")
    with pytest.raises(ChartError, match=r"\.svg or \.png"):
        stacked_bars(JAPANESE, tmp_path / "chart.pdf")


def test_burn_down_follows_the_ledger(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    nov, may = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
    now = utc("2026-11-10T12:00:00")
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"),), name_ja="アクメ", name_en="Acme")
        led.grant("acme", 1800, nov, may)
        for day in range(9):  # 10 GPU-h a day, Nov 1-9
            led.charge("acme", nov + day * DAY, 10 * H)
    with engine.connect() as conn:
        (acme,) = list_companies(conn)
        chart = burn_down_data(conn, GpuCatalog(settings.gpu_types), acme, now=now, tz="UTC", lang="ja")
        monthly = monthly_use_data(conn, GpuCatalog(settings.gpu_types), [acme], start=nov, end=may, tz="UTC")
    assert chart is not None and chart.granted == 1800.0 and len(chart.days) == 181
    assert chart.plan[-1] == pytest.approx(1800.0) and chart.plan[0] == pytest.approx(1800 / 181)  # linear
    assert chart.actual[8] == 90.0 and len(chart.actual) == 10  # up to today (Nov 10, nothing yet)
    # the 7-day pace (last 7 days incl. today: 60 GPU-h / 7) carried to the period end
    assert chart.projection[0] == 90.0 and chart.projection[-1] == pytest.approx(90 + 60 / 7 * 171)
    assert chart.title.startswith("アクメ")
    assert monthly.labels[0] == "2026-11" and monthly.values["acme"][0] == 90.0
    assert burn_down(chart, tmp_path / "burn.svg").startswith(b"<?xml")


def test_report_chart_from_the_cli_opens_in_chromium(ready: Cli, tmp_path: Path) -> None:  # noqa: F811
    svg, png = tmp_path / "series.svg", tmp_path / "by-company.png"
    series = ready("report", "--period", "2026-11", "--by", "day", "--chart", str(svg), "--json")
    assert series.exit_code == 0, series.output
    assert len(json.loads(series.stdout)) == 31  # the table still prints: 30 days and the total
    assert ready("report", "--period", "2026-11", "--chart", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    bad = ready("report", "--period", "2026-11", "--chart", str(tmp_path / "chart.gif"))
    assert bad.exit_code != 0 and ".svg or .png" in bad.stderr
    pool = pool_days("プール / pool", [DayUse("2026-11-01", 10, 2, 5, 1), DayUse("2026-11-02", 12, 0, 3, 0)],
                     tmp_path / "pool.svg")
    assert pool.startswith(b"<?xml")
    shot = tmp_path / "shot.png"
    page = tmp_path / "charts.html"
    page.write_text(f'<!DOCTYPE html><html lang="ja"><body><img src="{svg.name}" width="900">'
                    f'<img src="{(tmp_path / "pool.svg").name}" width="900"></body></html>', encoding="utf-8")
    chromium([f"--screenshot={shot}", "--window-size=1000,1000", "--hide-scrollbars", page.as_uri()],
             tmp_path / "profile")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000


def test_burn_down_without_an_active_grant_is_none(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        Ledger(conn, settings).setup().company("acme", accounts=(("c1", "acme"),))
    with engine.connect() as conn:
        (acme,) = list_companies(conn)
        assert burn_down_data(conn, GpuCatalog(settings.gpu_types), acme, now=utc("2026-11-10T00:00:00"),
                              tz="UTC") is None
    assert BurnDown("t", "GPU-h", 1.0, ("2026-11-01",), (1.0,), (0.5,)).projection == ()


def _texts(svg: bytes) -> list[str]:
    """The texts a matplotlib SVG draws (each written as a comment beside its glyph outlines)."""
    return re.findall(r"<!-- (.*?) -->", svg.decode("utf-8"))


def test_score_against_compute_says_which_compute_each_point_uses(tmp_path: Path) -> None:
    points = (ScorePoint("sakura-13b", "さくらAI", 100.0, 62.85, linked=False),
              ScorePoint("kaede-7b", "かえでラボ", 820.5, 48.1, linked=True))
    chart = score_compute(points, "ja")
    texts = _texts(score_vs_compute(chart, tmp_path / "score.svg"))
    assert {"sakura-13b", "kaede-7b", "さくらAI", "かえでラボ", "総合スコア (0〜100)"} <= set(texts)
    assert chart.linked_label in texts and chart.total_label in texts  # both kinds of compute, each named
    only_totals = _texts(draw_chart(score_compute(points[:1], "en"), fmt="svg"))
    assert "company total (no compute linked to the model)" in only_totals
    assert not any("eval link" in t for t in only_totals)  # no linked point: no legend entry claiming one
    assert "評価スコアと計算資源 / Evaluation score against compute" in _texts(draw_chart(score_compute(points, "both"),
                                                                                   fmt="svg"))
    assert draw_chart(score_compute((), "en"), fmt="png").startswith(b"\x89PNG")  # no point: an empty frame, no error


def test_a_withheld_value_is_a_labelled_gap_never_a_bar(tmp_path: Path) -> None:
    withheld = Series("月別", "GPU時間", ("2026-10", "2026-11"), {"計": (10.0, None)}, withheld_mark="非公開")
    texts = _texts(stacked_bars(withheld, fmt="svg"))
    assert "非公開" in texts and "2026-11" in texts
    nothing = _texts(stacked_bars(Series("t", "GPU-h", ("2026-11",), {"x": (None,)}), fmt="svg"))
    assert "0.2" not in nothing  # an all-withheld chart has no scale that reads as figures
