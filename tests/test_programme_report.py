"""The survey report through the real CLI: every chapter from the ledger and the plugins' survey shares, the
office's findings, three editions that differ by what their audiences may see, and Markdown, HTML and PDF.

Runs on SQLite and PostgreSQL (the PDF test on SQLite only: the rendering does not depend on the database).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.telemetry import upsert_gpu_usage
from quotad.plugins.api import LedgerView, read_only
from quotad.plugins.disclosure import WITHHELD_NOTE
from quotad.plugins.programme.report import build_report
from quotad.units import GpuCatalog
from tests.test_nvml_ledger import row as usage_row
from tests.test_plugin_common import FIXTURES, LM_EVAL_EN, LM_EVAL_JA, seed_fuji_december, seed_programme

PERIOD = "2026-11..2027-04"
#: fuji's November use (see seed_programme): 56 GPUs x 98,771 s.
FUJI_GPU_HOURS = "1,536.4"
PRIVATE_TEXT = "富士ラボの学習が電源障害で三週間止まった PRIVATE-DETAIL"


def _programme(engine: Engine, settings: Settings, cli: Any) -> None:
    seed_programme(engine, settings)
    for key, company, category, visibility, text in (
        ("c-public", "sakura", "data_acquisition", "public", "医療データの許諾に時間がかかる"),
        ("c-consortium", "sakura", "compute", "consortium", "H100 の確保が遅れた"),
        ("c-private", "fuji", "compute", "private", PRIVATE_TEXT),
    ):
        result = cli("challenges", "add", key, "--company", company, "--noted-on", "2026-11-20", "--category",
                     category, "--visibility", visibility, "--description-ja", text)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert cli("partners", "partner", "add", "example-labs", "--name", "Example Labs", "--country", "US", "--kind",
               "tech_firm", "--offer", "compute_credits").exit_code == 0  # fmt: skip
    assert cli("partners", "request", "add", "sakura", "--seek", "compute_credits").exit_code == 0
    assert cli("partners", "intro", "propose", "1", "example-labs", "--now", "2026-11-21T00:00:00").exit_code == 0
    assert cli("site", "company", "set", "sakura", "--public").exit_code == 0
    for day in ("2026-11-02", "2027-06-01"):  # the second lies after the report's period
        assert cli("site", "news", "add", "--date", day, "--title-ja", "お知らせ", "--title-en", "News").exit_code == 0


def _report(cli: Any, *args: str) -> str:
    result = cli("programme", "report", "--period", PERIOD, "--now", "2026-12-01T00:00:00", *args)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_editions_differ_by_what_each_audience_may_see(engine: Engine, settings: Settings, cli: Any) -> None:
    _programme(engine, settings, cli)
    office = _report(cli, "--format", "md", "--lang", "ja", "--edition", "office")
    consortium = _report(cli, "--format", "md", "--lang", "ja", "--edition", "consortium")
    public = _report(cli, "--format", "md", "--lang", "ja", "--edition", "public")

    # Every chapter heading is there in every edition, in order.
    for text in (office, consortium, public):
        headings = re.findall(r"^## (\d)\. ", text, flags=re.M)
        assert headings == ["1", "2", "3", "4", "5", "6", "7"]

    # A private challenge's words reach the office alone; its count too.
    assert PRIVATE_TEXT in office
    assert PRIVATE_TEXT not in consortium and PRIVATE_TEXT not in public
    compute_row = re.compile(r"^\| 計算資源の確保・障害 \| (\d+) \|", re.M)
    assert compute_row.search(office).group(1) == "2"  # type: ignore[union-attr]
    assert compute_row.search(consortium).group(1) == "1"  # type: ignore[union-attr]
    assert compute_row.search(public) is None  # the consortium entry is not public either

    # Per-company compute: office and consortium; the public gets programme totals only, and not this one:
    # sakura publishes its 100 GPU-h on the site and fuji alone keeps its figures private, so the total
    # would be fuji's use plus 100 (see test_public_totals_never_reveal_one_undisclosed_company).
    assert FUJI_GPU_HOURS in office and FUJI_GPU_HOURS in consortium
    assert FUJI_GPU_HOURS not in public and "富士ラボ" not in public
    programme_total = re.compile(r"^\| GPU時間 \| ([\d,.]+|—) \|", re.M)
    totals = {programme_total.search(t).group(1) for t in (office, consortium)}  # type: ignore[union-attr]
    assert totals == {"1,636.4"}  # sakura's 100 GPU-h + fuji's
    assert programme_total.search(public).group(1) == "—"  # type: ignore[union-attr]

    # What the site published, counted for the period, in every edition.
    for text in (office, consortium, public):
        assert "| お知らせ（期間内） | 1 |" in text and "| 計算資源の利用を公開した企業 | 1 |" in text

    # Charts: the programme's monthly total everywhere; burn-downs name companies, so not in the public edition.
    for text in (office, consortium, public):
        assert "GPU-hours per month, whole programme" in text
    assert "富士ラボ: grant burn-down" in office and "富士ラボ: grant burn-down" in consortium
    assert "grant burn-down" not in public

    # Partner names stay inside the consortium; the public sees counts.
    assert "Example Labs" not in public
    assert "| テック企業 | 1 | 0 |" in public


def _public(cli: Any) -> dict[str, str]:
    """The public edition in Markdown (ja, en) and HTML (en)."""
    return {
        f"{fmt}-{lang}": _report(cli, "--format", fmt, "--lang", lang, "--edition", "public")
        for fmt, lang in (("md", "ja"), ("md", "en"), ("html", "en"))
    }


#: The programme's November (and period) total, and what it less sakura's published 100 GPU-h would give.
TOTAL_GPU_HOURS, TOTAL_EFLOPS_HOURS = "1,636.4", "0.000"


def test_public_totals_never_reveal_one_undisclosed_company(engine: Engine, settings: Settings, cli: Any) -> None:
    """Sakura and kumo publish their compute on the site; fuji alone does not, and used compute in November:
    the period's total and November's, less the site's figures, would be fuji's use. Both are withheld in the
    public edition (md and html, ja and en) with the site's note; the office edition keeps them."""
    seed_programme(engine, settings)
    for company in ("sakura", "kumo"):
        assert cli("site", "company", "set", company, "--public").exit_code == 0
    public = _public(cli)
    for key, text in public.items():
        assert TOTAL_GPU_HOURS not in text and FUJI_GPU_HOURS not in text, key
        assert WITHHELD_NOTE.pick("ja" if key.endswith("ja") else "en") in text, key
    assert '<td>GPU-hours</td><td class="num">—</td>' in public["html-en"]
    assert "| GPU時間 | — |" in public["md-ja"] and "| EFLOPS時間 | — |" in public["md-ja"]
    assert "| GPU-hours | — |" in public["md-en"] and "| EFLOPS-hours | — |" in public["md-en"]
    assert "Months withheld in the monthly chart: 2026-11." in public["md-en"]
    office = _report(cli, "--format", "md", "--lang", "en", "--edition", "office")
    assert f"| GPU-hours | {TOTAL_GPU_HOURS} |" in office and WITHHELD_NOTE.en not in office

    # The chart the HTML draws: November is a withheld slot (None), the other months their (zero) totals.
    with read_only(engine) as conn:
        report = build_report(
            LedgerView(conn, GpuCatalog(settings.gpu_types)), [], conn, settings, start=1793491200,
            end=1809129600, audience="public", lang="en", now=1796083200,
            disclosures=[("site", lambda _conn: frozenset({"sakura", "kumo"}))],
        )  # fmt: skip
    monthly = report.chapters[0].charts[0]
    assert monthly.labels[0] == "2026-11" and monthly.values["GPU-h"] == (None, 0, 0, 0, 0, 0)  # type: ignore[union-attr]


def test_public_totals_stand_when_two_undisclosed_companies_used_compute(
    engine: Engine, settings: Settings, cli: Any
) -> None:
    """Kumo alone publishes (it used nothing); sakura and fuji both keep theirs private, so the total less the
    site's figures is a sum of two companies nobody can split: it is printed."""
    seed_programme(engine, settings)
    assert cli("site", "company", "set", "kumo", "--public").exit_code == 0
    public = _public(cli)
    assert f"| GPU-hours | {TOTAL_GPU_HOURS} |" in public["md-en"]
    assert "| GPU時間 | 1,636.4 |" in public["md-ja"]
    assert TOTAL_GPU_HOURS in public["html-en"]
    for text in public.values():
        assert WITHHELD_NOTE.en not in text and WITHHELD_NOTE.ja not in text


def test_the_period_total_is_withheld_when_its_withheld_months_reveal_one_company(
    engine: Engine, settings: Settings, cli: Any
) -> None:
    """Nobody discloses: November (sakura and fuji) stands in the chart, December (fuji alone) is withheld, so
    the period's total less November's would be fuji's December; the total is withheld with it."""
    seed_programme(engine, settings)
    seed_fuji_december(engine, settings)
    result = cli("programme", "report", "--period", "2026-11..2026-12", "--now", "2026-12-20T00:00:00",
                 "--edition", "public", "--format", "md", "--lang", "en")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| GPU-hours | — |" in result.stdout and "1,646.7" not in result.stdout
    assert "Months withheld in the monthly chart: 2026-12." in result.stdout
    office = cli("programme", "report", "--period", "2026-11..2026-12", "--now", "2026-12-20T00:00:00",
                 "--edition", "office", "--format", "md", "--lang", "en")  # fmt: skip
    assert "| GPU-hours | 1,646.7 |" in office.stdout


def test_the_idle_share_is_withheld_while_one_company_alone_was_measured(
    engine: Engine, settings: Settings, cli: Any
) -> None:
    """No plugin publishes a company's idle share, so the programme's is withheld only when it is one company's:
    fuji alone measured (1/6 idle). With sakura measured too (1/2 idle), the ratio of both (1/3) is printed."""
    seed_programme(engine, settings)
    nov3 = 1793491200 + 2 * 86400

    def measured(cluster: str, job_id: int, account: str, idle: int) -> None:
        with engine.begin() as conn:
            upsert_gpu_usage(conn, [usage_row(cluster=cluster, job_id=job_id, account=account, hour=nov3,
                                              first_sample=nov3, last_sample=nov3 + 3599, idle_seconds=idle)])  # fmt: skip

    def idle_row(edition: str) -> str:
        text = _report(cli, "--format", "md", "--lang", "en", "--edition", edition)
        return next(line for line in text.splitlines() if line.startswith("| Idle share % (measured) |"))

    measured("c2", 2, "fuji", 600)
    assert idle_row("office") == "| Idle share % (measured) | 16.7 |"
    assert idle_row("public") == "| Idle share % (measured) | — |"
    assert "only one company was measured" in _report(cli, "--format", "md", "--lang", "en", "--edition", "public")
    measured("c1", 1, "sakura", 1800)
    assert idle_row("public") == "| Idle share % (measured) | 33.3 |"


def test_without_a_disclosure_share_nobody_counts_as_disclosed(engine: Engine, settings: Settings) -> None:
    """No plugin shares disclosure (the site is not installed): every company counts as undisclosed, so a total
    stands unless one company alone used compute in its period (the rule itself: tests/test_disclosure_rule.py)."""
    seed_programme(engine, settings)
    with read_only(engine) as conn:
        report = build_report(LedgerView(conn, GpuCatalog(settings.gpu_types)), [], conn, settings,
                              start=1793491200, end=1809129600, audience="public", lang="en", now=1796083200)  # fmt: skip
    compute = report.chapters[0]
    assert compute.tables[0][1].rows[0][1] == 1636.4  # sakura and fuji both used compute in November
    assert compute.charts[0].values["GPU-h"][0] == pytest.approx(1636.4, abs=0.05)  # type: ignore[union-attr]


def test_findings_are_pulled_into_their_chapter_in_their_language(
    engine: Engine, settings: Settings, cli: Any, tmp_path: Path
) -> None:
    _programme(engine, settings, cli)
    notes = tmp_path / "challenges-ja.md"
    notes.write_text("データの取得が最大の課題であった。\n", encoding="utf-8")
    assert cli("programme", "findings", "set", "challenges", "--lang", "ja", "--file", str(notes)).exit_code == 0
    assert (
        cli("programme", "findings", "set", "compute", "--lang", "en", "--text", "Use ramped up late.").exit_code == 0
    )
    listed = json.loads(cli("programme", "findings", "list", "--json").stdout)
    assert [(f["part"], f["lang"]) for f in listed] == [("challenges", "ja"), ("compute", "en")]

    ja = _report(cli, "--format", "md", "--lang", "ja")
    en = _report(cli, "--format", "md", "--lang", "en")
    challenges_ja = ja.split("## 7. ")[1]
    assert "データの取得が最大の課題であった。" in challenges_ja and "Use ramped up late." not in ja
    assert "Use ramped up late." in en.split("## 1. ")[1].split("## 2. ")[0]
    assert "# Foundation Model Compute Programme Survey report" in en

    html = _report(cli, "--format", "html", "--lang", "en")
    assert '<html lang="en">' in html and "Use ramped up late." in html
    assert html.count('<img src="data:image/svg+xml;base64,') == 4  # monthly total, two burn-downs, challenges
    assert cli("programme", "findings", "set", "compute", "--lang", "en", "--text", "").exit_code == 0
    assert "Use ramped up late." not in _report(cli, "--format", "md", "--lang", "en")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--format", "pdf"], "give --out"),
        (["report", "--period", "2026-11"], "expected START..END"),
        (["report", "--period", "2026-12..2026-11"], "the end comes before the start"),
        (["report", "--edition", "everyone"], "--edition 'everyone'"),
        (["report", "--lang", "fr"], "--lang 'fr'"),
        (["report", "--out", "/nonexistent/dir/r.html"], "does not exist"),
        (["findings", "set", "money", "--lang", "ja", "--text", "x"], "chapter 'money'"),
        (["findings", "set", "compute", "--lang", "ja"], "exactly one of --text and --file"),
    ],
)
def test_bad_requests_are_refused_without_a_traceback(
    engine: Engine, settings: Settings, cli: Any, args: list[str], message: str
) -> None:
    seed_programme(engine, settings)
    result = cli("programme", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_pdf_has_a_japanese_heading_and_pages_that_are_not_blank(
    engine: Engine, settings: Settings, cli: Any, tmp_path: Path, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the PDF rendering does not depend on the database; SQLite covers it")
    for tool in ("pdftotext", "pdftoppm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: install poppler-utils (deploy/dev/test-services does)")
    _programme(engine, settings, cli)
    pdf = tmp_path / "survey.pdf"
    result = cli("programme", "report", "--format", "pdf", "--lang", "ja", "--period", PERIOD, "--out", str(pdf))
    assert result.exit_code == 0, result.output
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "調査報告書" in text and "開発を妨げた課題" in text
    # The charts' captions: the programme's monthly use, a burn-down per company with an active grant, and the
    # challenges by category (drawn as SVG inside the PDF).
    for caption in ("GPU-hours per month, whole programme", "さくらAI: grant burn-down", "Challenges by category"):
        assert caption in text, caption
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    from PIL import Image

    for page in pages:
        with Image.open(page) as image:
            extrema = image.convert("L").getextrema()
        assert extrema[0] < 128, f"{page.name} is blank"


def test_committee_chapter_counts_decisions_and_names_companies_only_for_the_office(
    engine: Engine, settings: Settings, cli: Any
) -> None:
    from quotad.plugins.review import store
    from tests.review_support import NOW, seed, writing

    seeded = seed(engine, settings)
    with writing(engine, settings) as (conn, _view):
        for company, outcome in (("sakura", "accept"), ("fuji", "reject"), ("kumo", "accept")):
            store.decide(conn, seeded.proposals[company], outcome=outcome, rationale="scores", actor="chair", now=NOW)
        # A later decision replaces the earlier one: kumo ends up waitlisted.
        store.decide(conn, seeded.proposals["kumo"], outcome="waitlist", rationale="budget", actor="chair", now=NOW)
    office = _report(cli, "--format", "md", "--lang", "en", "--edition", "office")
    public = _report(cli, "--format", "md", "--lang", "en", "--edition", "public")
    row = "| First selection | Selection | 3 | 1 | 1 | 1 | 0 | 0 | 0 |"
    assert row in office and row in public
    assert "| First selection | fuji | Rejected |" in office
    assert "fuji" not in public.split("## 6. ")[1]
    for confidential in ("scores", "budget", "chair"):
        assert confidential not in office.split("## 6. ")[1].split("## 7. ")[0]


def test_evaluation_chapter_shows_each_audience_the_runs_it_may_see(
    engine: Engine, settings: Settings, cli: Any
) -> None:
    seed_programme(engine, settings)
    for path, company, model, visibility in (
        (LM_EVAL_EN, "sakura", "sakura-13b-public", "public"),
        (LM_EVAL_JA, "sakura", "sakura-13b-public", "public"),
        (FIXTURES / "jp_stable" / "result.json", "fuji", "fuji-secret-7b", "private"),
    ):
        result = cli("eval", "ingest", str(path), "--company", company, "--model", model, "--visibility", visibility)
        assert result.exit_code == 0, result.output
    office = _report(cli, "--format", "md", "--lang", "en", "--edition", "office")
    public = _report(cli, "--format", "md", "--lang", "en", "--edition", "public")
    chapter = lambda text: text.split("## 2. ")[1].split("## 3. ")[0]  # noqa: E731
    assert "sakura-13b-public" in chapter(office) and "fuji-secret-7b" in chapter(office)
    assert "sakura-13b-public" in chapter(public) and "fuji-secret-7b" not in public
    assert "Evaluation coverage in Japanese and English" in chapter(public)


def test_public_edition_covers_whole_months(engine: Engine, settings: Settings, cli: Any) -> None:
    """A public total over part of a month could be set against the site's monthly figures: refused, with the
    form that works; the office edition takes any days."""
    seed_programme(engine, settings)
    days = ("programme", "report", "--period", "2026-11-01..2026-11-15", "--now", "2026-12-01T00:00:00",
            "--format", "md", "--lang", "en")  # fmt: skip
    refused = cli(*days, "--edition", "public")
    assert refused.exit_code == 2
    assert "whole months" in refused.output and "--period YYYY-MM..YYYY-MM" in refused.output
    assert "Traceback" not in refused.output
    assert cli(*days, "--edition", "office").exit_code == 0
    whole = cli("programme", "report", "--period", "2026-11-01..2026-11-30", "--now", "2026-12-01T00:00:00",
                "--format", "md", "--lang", "en", "--edition", "public")  # fmt: skip
    assert whole.exit_code == 0, whole.output
