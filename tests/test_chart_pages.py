"""Charts on the public site and in the committee pack: only publishable figures reach a site chart (a withheld
month is a marked gap, an undisclosed company is absent), the score-against-compute chart says which compute it
plots, and the pages open in headless Chromium with every chart image loaded and drawn (screenshots checked)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy
import pytest
from PIL import Image
from sqlalchemy import Engine

from quotad.charts import ScoreCompute, Series, draw_chart
from quotad.config import Settings
from quotad.ledger.db import create_ledger_engine
from quotad.plugins.api import Bilingual, LedgerView, PublicChart, PublicContent, PublicTable, read_only
from quotad.plugins.eval.store import ComputeLink, set_link
from quotad.plugins.host import PluginRegistry
from quotad.plugins.review.pack import build_pack, pack_html
from quotad.plugins.site.charts import site_charts
from quotad.plugins.site.content import Contribution, PublishError, SiteData, gather
from quotad.plugins.site.store import set_public
from quotad.units import GpuCatalog
from tests.test_eval_board import ingest_programme_results
from tests.test_plugin_common import NOW, ledger, plugin_tables, registry, seed_programme, upgrade_all, with_builtins
from tests.test_site_build import build_programme_site, chromium, site_settings, svg_text

__all__ = ["ledger", "plugin_tables", "registry", "with_builtins"]

NOV, MAY = 1793491200, 1809129600  # seed_programme's grant period
FUJI = ("Fuji", "富士", "fuji", "1,536", "1536", "1,636", "1636")  # the undisclosed company, its figure, the total


def test_a_site_chart_holds_only_what_the_site_may_publish(
    ledger: Engine, settings: Settings, registry: PluginRegistry, tmp_path: Path
) -> None:
    """sakura publishes, fuji does not and is the only other company with use in 2026-11: that month's total
    would be fuji's figure by subtraction, so it is withheld (None), and fuji is in no chart."""
    seed_programme(ledger, settings)
    ingest_programme_results(ledger, settings, tmp_path)
    with ledger.begin() as conn:
        set_public(conn, "sakura", True, now=NOW)
    with read_only(ledger) as conn:
        data = gather(conn, LedgerView(conn, GpuCatalog(settings.gpu_types)), settings, registry.publishers(), now=NOW)
    for lang in ("ja", "en"):
        charts = {c.name: c for c in site_charts(data, lang)}
        assert set(charts) == {"compute-monthly", "compute-by-company", "eval-score-compute"}
        monthly, by_company = charts["compute-monthly"].chart, charts["compute-by-company"].chart
        assert isinstance(monthly, Series) and isinstance(by_company, Series)
        assert monthly.labels == ("2026-11",) and list(monthly.values.values()) == [(None,)]  # withheld, not 0
        assert by_company.values == {("さくらAI" if lang == "ja" else "Sakura AI"): (100.0,)}
        score = charts["eval-score-compute"].chart
        assert isinstance(score, ScoreCompute)
        # public full runs with an overall average (the instruct model has MT-Bench alone: no point, never 0)
        assert {p.label for p in score.points} == {"sakura-13b-v1"}
        assert all(not p.linked and p.gpu_hours == 100.0 for p in score.points)  # sakura's total, said so
        for chart in charts.values():
            text = svg_text(draw_chart(chart.chart, fmt="svg").decode("utf-8")) + chart.alt
            assert not [s for s in FUJI if s in text], chart.name
        monthly_text = svg_text(draw_chart(monthly, fmt="svg").decode("utf-8"))
        assert ("非公開" if lang == "ja" else "withheld") in monthly_text and "2026-11" in monthly_text
    assert "月別の GPU 時間" in svg_text(draw_chart(site_charts(data, "ja")[0].chart, fmt="svg").decode("utf-8"))


def test_a_plugin_chart_must_picture_one_of_its_own_tables_under_a_plain_name() -> None:
    table = PublicTable("eval-summary", Bilingual("表", "Table"), (Bilingual("列", "Column"),), (("x",),))
    chart = Series("t", "GPU-h", ("2026-11",), {"x": (1.0,)})

    def data(key: str, of: str) -> SiteData:
        content = PublicContent(tables=(table,), charts=(PublicChart(key, of, chart, chart, Bilingual("図", "chart")),))
        return SiteData(Bilingual("p", "p"), "2026-11-25", None, (), None, (), (Contribution("eval", content),), (), ())

    assert [c.name for c in site_charts(data("score", "eval-summary"), "en")] == ["eval-score"]
    for key, of in (("../../escape", "eval-summary"), ("score", "another-plugins-table")):
        with pytest.raises(PublishError, match="plugin 'eval'"):
            site_charts(data(key, of), "en")


def test_the_pack_charts_each_company_and_says_which_compute_a_model_used(
    ledger: Engine, settings: Settings, registry: PluginRegistry, tmp_path: Path
) -> None:
    seed_programme(ledger, settings)
    ingest_programme_results(ledger, settings, tmp_path)
    with ledger.begin() as conn:
        set_link(conn, ComputeLink("sakura", "sakura-13b-v1", job_ids=("1",)), now=NOW)
    with read_only(ledger) as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        packs = build_pack(view, registry.committee_reporters(), conn, settings, company_ids=["sakura", "kumo"],
                           start=NOV, end=MAY, now=NOW)
    sakura, kumo = packs
    kinds = [type(c).__name__ for c in sakura.charts]
    assert kinds == ["BurnDown", "Series", "ScoreCompute"]
    monthly = sakura.charts[1]
    assert isinstance(monthly, Series) and monthly.labels[0] == "2026-11" and len(monthly.labels) == 6
    assert monthly.values["GPU-h"][:2] == (100.0, 0.0)
    score = sakura.charts[2]
    assert isinstance(score, ScoreCompute)  # the model with an overall average, on its own linked jobs
    assert [(p.label, p.linked, p.gpu_hours) for p in score.points] == [("sakura-13b-v1", True, 100.0)]
    assert "eval link" in score.linked_label and "company total" in score.total_label
    assert [type(c).__name__ for c in kumo.charts] == ["Series"]  # no grant, no results: its (empty) month only
    html = pack_html(packs)
    assert html.count('<img src="data:image/svg+xml;base64,') == 4 and 'alt="' in html


def _probe(page: Path) -> Path:
    """A copy of ``page`` beside it with a script that writes each image's natural width into the DOM once
    loaded (the site itself carries no script)."""
    script = (
        "<script>addEventListener('load', () => document.body.setAttribute('data-images', JSON.stringify("
        "[...document.images].map(i => [i.alt, i.naturalWidth, i.complete]))));</script>"
    )
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    return probe


def _images(dom: str) -> list[list[object]]:
    found = re.search(r'data-images="([^"]*)"', dom)
    assert found, "the probe did not run"
    return list(json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")))


def _chart_pixels(shot: Path) -> int:
    """Pixels of the charts' first colour (matplotlib's blue): bars and points drawn, not an empty frame."""
    with Image.open(shot) as image:
        rgb = numpy.asarray(image.convert("RGB")).astype(int)
    return int((numpy.abs(rgb - (31, 119, 180)).max(axis=2) < 12).sum())


def test_chart_pages_load_every_image_in_chromium(
    tmp_path: Path, with_builtins: None, registry: PluginRegistry
) -> None:
    settings = site_settings(f"sqlite:///{tmp_path / 'charts.sqlite'}")
    engine = create_ledger_engine(settings)
    upgrade_all(engine)
    out = build_programme_site(engine, settings, registry, tmp_path)
    with engine.begin() as conn:
        set_link(conn, ComputeLink("sakura", "sakura-13b-v1", job_ids=("1",)), now=NOW)
    with read_only(engine) as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        packs = build_pack(view, registry.committee_reporters(), conn, settings, company_ids=["sakura", "fuji"],
                           start=NOV, end=MAY, now=NOW)
    engine.dispose()
    pack = tmp_path / "pack" / "pack.html"
    pack.parent.mkdir()
    pack.write_text(pack_html(packs), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    # ja compute: programme by month, sakura by month; en results: score against compute; the pack: sakura's
    # burn-down, months and score chart, fuji's burn-down and months (no model of fuji's has an overall average)
    expected = {out / "ja" / "compute.html": 2, out / "en" / "results.html": 1, pack: 5}
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for page, count in expected.items():
        shot = shots / f"{page.parent.name}-{page.stem}.png"
        dom = chromium(["--virtual-time-budget=5000", f"--screenshot={shot}", "--window-size=1280,2400",
                        "--hide-scrollbars", "--dump-dom", _probe(page).as_uri()], profile)  # one launch for both
        images = _images(dom)
        assert len(images) == count, (page, images)
        assert all(width and int(str(width)) > 0 and complete and alt for alt, width, complete in images), images
        assert _chart_pixels(shot) > 50, f"{shot}: no chart drawn"
        print(f"screenshot: {shot}")
    shutil.rmtree(profile, ignore_errors=True)
