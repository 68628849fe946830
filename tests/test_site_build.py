"""The public site: built from a ledger holding every visibility, checked for leaks and in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from jinja2 import UndefinedError
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.db import create_ledger_engine
from quotad.ledger.registry import add_company
from quotad.plugins.api import Bilingual, LedgerView, read_only
from quotad.plugins.eval_config import EvalConfig, TaskOverride
from quotad.plugins.host import PluginRegistry
from quotad.plugins.site.build import _environment, build_site
from quotad.plugins.site.content import gather
from quotad.plugins.site.i18n import PAGES
from quotad.plugins.site.store import add_news, set_public
from quotad.units import GpuCatalog
from tests.conftest import make_settings
from tests.test_eval_board import ingest_programme_results
from tests.test_plugin_common import (
    NOW,
    PluginCli,
    ledger,
    plugin_cli,
    plugin_tables,
    registry,
    seed_fuji_december,
    seed_programme,
    upgrade_all,
    with_builtins,
)

__all__ = ["ledger", "plugin_cli", "plugin_tables", "registry", "with_builtins"]

#: Planted in the ledger and never to be published, in every form the site could print them.
SECRETS = {
    "private model": ["sakura-13b-v2-preview", "fuji-7b-base"],
    "consortium model": ["fuji-7b-chat"],
    "private score (preview hellaswag 0.8137911)": ["0.8138", "81.38", "0.813791"],
    "consortium llm-jp-eval run": ["JSQuAD", "jsquad", "0.8833", "88.33", "JEMHopQA"],
    "non-redistributable benchmark (winogrande)": ["WinoGrande", "winogrande", "0.7316", "73.16"],
    "fuji's own GPU-hours (1,536.44)": ["1,536", "1536"],
    "fuji's own EFLOPS-hours (1.5195)": ["1.52", "1.5195"],
}
EVIL = "<script>alert('x')</script> Corp"


class WithEval(Settings):
    """Settings as they will be once the core declares the [eval] section."""

    eval: EvalConfig = EvalConfig()


def site_settings(db_url: str) -> WithEval:
    base = make_settings(db_url)
    return WithEval(
        database=base.database,
        clusters=base.clusters,
        eval=EvalConfig(tasks={"winogrande": TaskOverride(redistributable=False)}),
    )


def build_programme_site(engine: Engine, settings: Settings, registry: PluginRegistry, tmp_path: Path) -> Path:
    seed_programme(engine, settings)
    ingest_programme_results(engine, settings, tmp_path)
    with engine.begin() as conn:
        add_company(conn, company_id="evil", name_ja=EVIL, name_en=EVIL, now=NOW)
        set_public(conn, "sakura", True, now=NOW)
        set_public(conn, "fuji", False, now=NOW)
        add_news(
            conn,
            day="2026-11-20",
            title=Bilingual("第2期の公募を開始しました", "Call for the second term opens"),
            body=Bilingual(
                "応募は12月15日まで。\n\n詳細は募集要項をご覧ください。", "Applications close on 15 December."
            ),
            now=NOW,
        )
    with read_only(engine) as conn:
        data = gather(conn, LedgerView(conn, GpuCatalog(settings.gpu_types)), settings, registry.publishers(), now=NOW)
    out = tmp_path / "site"
    build_site(data, out)
    return out


def svg_text(svg: str) -> str:
    """Every text a matplotlib SVG draws (titles, labels, ticks, legends): it writes each as a comment beside the
    glyph outlines, whose coordinates are noise to a search for a figure."""
    return "\n".join(re.findall(r"<!-- (.*?) -->", svg))


def built_files(out: Path) -> dict[Path, str]:
    """Each file's text; of a chart, the texts it draws (see ``svg_text``)."""
    files = {p: p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file()}
    return {p: svg_text(text) if p.suffix == ".svg" else text for p, text in files.items()}


@pytest.fixture
def site(ledger: Engine, db_url: str, registry: PluginRegistry, tmp_path: Path) -> Path:
    return build_programme_site(ledger, site_settings(db_url), registry, tmp_path)


def test_the_site_has_every_page_in_both_languages(site: Path) -> None:
    files = built_files(site)
    charts = ("compute-monthly", "compute-by-company", "eval-score-compute")
    expected = {site / "index.html", site / "style.css"} | {
        site / lang / f"{p}.html" for lang in ("ja", "en") for p in PAGES
    } | {site / lang / "charts" / f"{c}.svg" for lang in ("ja", "en") for c in charts}
    assert set(files) == expected
    for lang, other in (("ja", "en"), ("en", "ja")):
        for page in PAGES:
            html = files[site / lang / f"{page}.html"]
            assert f'<html lang="{lang}">' in html and f'href="../{other}/{page}.html"' in html
            assert '<link rel="stylesheet" href="../style.css">' in html
    assert "参加企業" in files[site / "ja" / "companies.html"] and "Companies" in files[site / "en" / "companies.html"]
    assert not any("<script" in text.lower() for text in files.values())


def test_public_content_is_there(site: Path) -> None:
    files = built_files(site)
    results = files[site / "en" / "results.html"]
    assert "sakura-13b-v1" in results and "sakura-13b-v1-instruct" in results and "HellaSwag" in results
    assert "Japanese MT-Bench" in results and "JCommonsenseQA" in results
    compute = files[site / "en" / "compute.html"]
    assert "Sakura AI" in compute and "Fuji Labs" not in compute and ">100<" in compute  # sakura publishes its figures
    # fuji is the only undisclosed company with use: the total (1,636) minus sakura's 100 would be fuji's figure
    assert "1,636" not in compute and "2026-11" in compute and "withheld" in compute
    news = files[site / "ja" / "news.html"]
    assert "第2期の公募を開始しました" in news and "<p>詳細は募集要項をご覧ください。</p>" in news
    assert "予定されているイベントはありません。" in news  # the events hook, empty until a community plugin fills it


def test_no_private_or_consortium_figure_appears_in_any_file(site: Path) -> None:
    files = built_files(site)
    leaks = [
        f"{what}: {needle!r} in {path.relative_to(site)}"
        for path, text in files.items()
        for what, needles in SECRETS.items()
        for needle in needles
        if needle in text
    ]
    assert leaks == []


def test_names_are_escaped(site: Path) -> None:
    text = (site / "en" / "companies.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Corp" in text


def test_templates_are_strict_and_autoescaped() -> None:
    env = _environment()
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_site_cli(plugin_cli: PluginCli, ledger: Engine, settings: Settings, tmp_path: Path) -> None:
    seed_programme(ledger, settings)
    assert plugin_cli("site", "company", "set", "sakura", "--public").exit_code == 0
    assert plugin_cli("site", "company", "set", "nobody", "--public").exit_code == 2
    listed = plugin_cli("site", "company", "list", "--format", "csv").stdout
    assert "sakura,Sakura AI,yes" in listed and "fuji,Fuji Labs,no" in listed
    added = plugin_cli("site", "news", "add", "--date", "2026-11-20", "--title-ja", "お知らせ", "--title-en", "Notice")
    assert added.exit_code == 0
    assert plugin_cli("site", "news", "add", "--date", "20/11", "--title-ja", "a", "--title-en", "b").exit_code == 2
    out = tmp_path / "public"
    built = plugin_cli("site", "build", str(out), "--now", "2026-11-25T00:00:00")
    assert built.exit_code == 0, built.output
    assert "16 files" in built.stdout and "Notice" in (out / "en" / "news.html").read_text(encoding="utf-8")
    assert "1,536" not in (out / "en" / "compute.html").read_text(encoding="utf-8")


def test_no_private_figure_by_subtraction_through_site_build(
    plugin_cli: PluginCli, ledger: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Totals are withheld while exactly one undisclosed company used compute; published again with two."""
    seed_programme(ledger, settings)  # sakura 100 GPU-h, fuji 1,536.44 GPU-h, kumo none; all in 2026-11
    out = tmp_path / "public"

    def pages() -> str:
        built = plugin_cli("site", "build", str(out), "--now", "2026-11-25T00:00:00")
        assert built.exit_code == 0, built.output
        return "".join(p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.html")))

    assert plugin_cli("site", "company", "set", "sakura", "--public").exit_code == 0
    text = pages()
    assert ">100<" in text  # sakura's own figure
    assert "1,636" not in text and "1,536" not in text and "1536" not in text  # neither total nor difference
    assert "<dd>—</dd>" in text and '<td class="num">—</td>' in text and "subtracting the published" in text
    assert plugin_cli("site", "company", "set", "sakura", "--private").exit_code == 0
    text = pages()  # two undisclosed companies used compute: the total is a sum nobody can split
    assert "1,636" in text and ">100<" not in text and "subtracting the published" not in text
    assert plugin_cli("site", "company", "set", "fuji", "--public").exit_code == 0
    assert plugin_cli("site", "company", "set", "sakura", "--public").exit_code == 0
    text = pages()  # everyone with use publishes: the total is their own sum
    assert "1,636" in text and "1,536" in text and "subtracting the published" not in text


def test_the_all_time_total_is_withheld_when_the_withheld_months_reveal_one_company(
    plugin_cli: PluginCli, ledger: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Nobody discloses; November (sakura and fuji) stands, December (fuji alone) is withheld, so the all-time
    total less November's would be fuji's December: the total is withheld with it (quotad.plugins.disclosure)."""
    seed_programme(ledger, settings)
    seed_fuji_december(ledger, settings)
    out = tmp_path / "public"
    built = plugin_cli("site", "build", str(out), "--now", "2026-12-20T00:00:00")
    assert built.exit_code == 0, built.output
    text = (out / "en" / "compute.html").read_text(encoding="utf-8")
    assert '<th scope="row">2026-11</th><td class="num">1,636</td>' in text  # November's total
    assert "1,647" not in text and "<dd>—</dd>" in text  # the all-time total (1,647 less 1,636 = fuji's December)
    assert "subtracting the published" in text


# --- headless Chromium ---------------------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium(args: list[str], profile: Path) -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: apt-get install chromium (deploy/dev/test-services does this)")
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang") or ""
        if found.get("id"):
            self.ids.add(str(found["id"]))
        for key in ("href", "src"):
            if found.get(key):
                self.links.append(str(found[key]))


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def test_pages_render_in_chromium_with_no_broken_links(
    tmp_path: Path, with_builtins: None, registry: PluginRegistry
) -> None:
    settings = site_settings(f"sqlite:///{tmp_path / 'site-ledger.sqlite'}")
    engine = create_ledger_engine(settings)
    upgrade_all(engine)
    out = build_programme_site(engine, settings, registry, tmp_path)
    engine.dispose()
    profile = tmp_path / "chromium-profile"
    pages = [out / "index.html", *(out / lang / f"{p}.html" for lang in ("ja", "en") for p in PAGES)]
    for page in pages:
        dom = chromium(["--dump-dom", page.as_uri()], profile)
        parsed = _parse(dom)
        lang = page.parent.name if page.parent != out else "ja"
        assert parsed.lang == lang, page
        switch = {"ja": ['lang="en">English</a>'], "en": ['lang="ja">日本語</a>']}.get(page.parent.name)
        expected = switch or ['lang="ja">日本語</a>', 'lang="en">English</a>']  # the root offers both
        assert all(s in dom for s in expected), page  # the language switch rendered
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue
            target = (page.parent / parts.path).resolve() if parts.path else page
            assert target.is_file(), f"{page.relative_to(out)}: broken link {link}"
            if parts.fragment:
                assert parts.fragment in _parse(target.read_text(encoding="utf-8")).ids, f"{page}: no #{parts.fragment}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for page in (out / "ja" / "index.html", out / "en" / "results.html"):
        shot = shots / f"{page.parent.name}-{page.stem}.png"
        chromium([f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars", page.as_uri()], profile)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"screenshot: {shot}")
