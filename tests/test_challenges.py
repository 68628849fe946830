"""The challenges log through the real CLI: entries, links that must resolve, history, CSV import, the site.

Every test runs on SQLite and PostgreSQL (the ``cli``/``engine`` fixtures share one ledger).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from quotad.directives.config import DirectivesConfig, Rules
from quotad.directives.engine import apply_findings
from quotad.directives.store import list_directives
from quotad.notify.config import NotifyConfig
from quotad.policies.base import Figure, Finding, Severity, Subject, Threshold
from quotad.policies.config import PoliciesConfig
from tests.community_support import NOW, NOW_ISO, add_event, seed_companies


def _add(cli: Any, key: str, *extra: str, category: str = "compute", noted: str = "2026-11-10") -> Any:
    return cli(
        "challenges", "add", key, "--noted-on", noted, "--category", category,
        "--description-ja", f"{key} の説明", "--description-en", f"{key} described", *extra,
    )  # fmt: skip


def _keys(cli: Any, *filters: str) -> list[str]:
    result = cli("challenges", "list", "--json", *filters)
    assert result.exit_code == 0, result.output
    return [row["key"] for row in json.loads(result.stdout)]


def test_add_list_show_update_keeps_every_change(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    assert _add(cli, "ch-1", "--company", "sakura", "--severity", "high").exit_code == 0
    assert _add(cli, "ch-2", category="talent", noted="2026-12-01").exit_code == 0

    assert _keys(cli) == ["ch-1", "ch-2"]
    assert _keys(cli, "--company", "sakura") == ["ch-1"]
    assert _keys(cli, "--category", "talent") == ["ch-2"]
    assert _keys(cli, "--since", "2026-11-15") == ["ch-2"]

    result = cli("challenges", "update", "ch-1", "--status", "resolved", "--response", "二社を紹介", "--by", "alice")
    assert result.exit_code == 0, result.output
    assert "updated" in result.stdout
    again = cli("challenges", "update", "ch-1", "--status", "resolved", "--by", "alice")
    assert "unchanged" in again.stdout

    shown = json.loads(cli("challenges", "show", "ch-1", "--json").stdout)
    assert shown["entry"]["status"] == "resolved" and shown["entry"]["response"] == "二社を紹介"
    assert [(h["field"], h["before"], h["after"], h["actor"]) for h in shown["history"][1:]] == [
        ("status", "open", "resolved", "alice"),
        ("response", "", "二社を紹介", "alice"),
    ]
    assert shown["history"][0]["field"] == "created"

    table = cli("challenges", "show", "ch-1")
    assert "ch-1 の説明" in table.stdout and "History of ch-1" in table.stdout


def test_bad_entries_are_refused_with_every_problem_named(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    result = cli(
        "challenges", "add", "bad key", "--noted-on", "2026-13-01", "--category", "cpu", "--company", "nobody",
        "--severity", "huge", "--visibility", "everyone",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for expected in ("key:", "company: 'nobody'", "noted_on: '2026-13-01'", "category: 'cpu'", "severity: 'huge'",
                     "visibility: 'everyone'", "description"):  # fmt: skip
        assert expected in result.output, expected
    assert _add(cli, "ch-1").exit_code == 0
    twice = _add(cli, "ch-1")
    assert twice.exit_code == 2 and "already exists" in twice.output
    assert cli("challenges", "update", "ch-1").exit_code == 2  # nothing to change
    assert cli("challenges", "show", "nope").exit_code == 2
    assert _keys(cli) == ["ch-1"]


def test_sources_must_exist(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    add_event(cli, "open-day", "--public", "--place-ja", "東京", "--place-en", "Tokyo")
    finding = Finding(
        policy="quota_threshold", subject=Subject("sakura"), severity=Severity.NOTICE, level="step-80",
        summary="sakura: 80 % used", threshold=Threshold("step_pct", 80, "%", ">="), figures=(Figure("used", 8, "GPU-h"),),
    )  # fmt: skip
    rules = Rules(PoliciesConfig(), DirectivesConfig(), NotifyConfig())
    with engine.begin() as conn:
        apply_findings(conn, [finding], evaluated={"quota_threshold"}, enabled={"quota_threshold"}, now=NOW,
                       rules=rules, working_day=True)  # fmt: skip
        (directive,) = list_directives(conn)
    directive_id = directive.id
    assert _add(cli, "from-event", "--source", "event", "--source-ref", "open-day").exit_code == 0
    assert _add(cli, "from-directive", "--source", "directive", "--source-ref", str(directive_id)).exit_code == 0
    for kind, ref in (("event", "no-such-event"), ("directive", str(directive_id + 100)), ("review", "no-call")):
        result = _add(cli, f"dangling-{kind}", "--source", kind, "--source-ref", ref)
        assert result.exit_code == 2, (kind, result.output)
        assert f"{kind} '{ref}' does not exist" in result.output
    assert "needs the event's id" in _add(cli, "no-ref", "--source", "event").output
    assert _keys(cli) == ["from-event", "from-directive"]


CSV_HEADER = "key,company,noted_on,category,severity,description_ja,description_en,status,visibility\n"


def test_import_lands_good_rows_reports_bad_ones_and_is_idempotent(engine: Engine, cli: Any, tmp_path: Path) -> None:
    seed_companies(engine)
    sheet = tmp_path / "challenges.csv"
    sheet.write_text(
        "\ufeff"
        + CSV_HEADER
        + "imp-1,sakura,2026-10-02,data_acquisition,high,データ不足,,open,public\n"
        + "imp-2,,2026-10-15,cost,medium,,GPU prices,open,private\n"
        + "imp-3,ghost,2026-10-20,cost,medium,,x,open,private\n"
        + "imp-1,sakura,2026-10-02,data_acquisition,high,データ不足,,open,public\n"
        + "imp-4,fuji,2026-10-21,compute,urgent,,y,open,private,extra\n",
        encoding="utf-8",
    )
    first = cli("challenges", "import", str(sheet))
    assert first.exit_code == 1, first.output
    assert "2 created, 0 updated, 0 unchanged, 3 row(s) refused" in first.stdout
    assert f"{sheet}: line 4 (imp-3): company: 'ghost' is not a company" in first.stderr
    assert f"{sheet}: line 5 (imp-1): key: duplicate of line 2" in first.stderr
    assert f"{sheet}: line 6 (imp-4): row: 1 more field(s) than the header" in first.stderr
    assert f"{sheet}: line 6 (imp-4): severity: 'urgent'" in first.stderr
    assert _keys(cli) == ["imp-1", "imp-2"]

    second = cli("challenges", "import", str(sheet), "--json")
    report = json.loads(second.stdout)
    assert (report["created"], report["updated"], report["unchanged"]) == ([], [], ["imp-1", "imp-2"])

    sheet.write_text(CSV_HEADER + "imp-2,,2026-10-15,cost,high,,GPU prices,resolved,private\n", encoding="utf-8")
    third = cli("challenges", "import", str(sheet))
    assert third.exit_code == 0 and "0 created, 1 updated" in third.stdout
    history = json.loads(cli("challenges", "show", "imp-2", "--json").stdout)["history"]
    assert [h["field"] for h in history] == ["created", "severity", "status"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("key,when\nx,1\n", "unknown column(s) 'when'"),
        ("key,category\nx,cost\n", "missing column(s) noted_on"),
        ("", "empty file"),
    ],
)
def test_import_refuses_a_file_it_cannot_read(
    engine: Engine, cli: Any, tmp_path: Path, content: str, message: str
) -> None:
    sheet = tmp_path / "c.csv"
    sheet.write_text(content, encoding="utf-8")
    result = cli("challenges", "import", str(sheet))
    assert result.exit_code == 2 and message in result.output
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes((CSV_HEADER + "a,,2026-10-01,cost,low,課題,,open,private\n").encode("shift_jis"))
    result = cli("challenges", "import", str(sjis))
    assert result.exit_code == 2 and "not UTF-8" in result.output
    assert cli("challenges", "import", str(tmp_path / "missing.csv")).exit_code == 2


def test_site_gets_counts_of_public_entries_only(engine: Engine, cli: Any, tmp_path: Path) -> None:
    seed_companies(engine)
    _add(cli, "pub-1", "--company", "sakura", "--visibility", "public", category="data_acquisition", noted="2026-10-02")
    _add(cli, "pub-2", "--company", "fuji", "--visibility", "public", category="data_acquisition", noted="2026-10-20")
    _add(cli, "pub-3", "--visibility", "public", category="compute", noted="2026-11-05")
    _add(cli, "secret-1", "--company", "sakura", "--visibility", "consortium", category="talent", noted="2026-11-06")
    out = tmp_path / "site"
    result = cli("site", "build", str(out), "--now", NOW_ISO)
    assert result.exit_code == 0, result.output
    pages = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert "Challenges heard, by category and month" in pages
    # The page that carries the plugins' public tables says it holds challenges too, not only evaluations.
    assert "Results and challenges" in (out / "en" / "results.html").read_text(encoding="utf-8")
    assert "データの取得" in pages and "Compute availability and failures" in pages
    assert "Talent" not in pages  # only the consortium entry is filed under talent
    for hidden in ("pub-1", "secret-1", "described", "の説明"):
        assert hidden not in pages, hidden
    assert "2026-10" in pages and "2026-11" in pages


def test_plugins_declare_their_own_config_sections(engine: Engine, config_file: Path) -> None:
    from tests.conftest import Cli

    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(
        text + '\n[challenges]\ncategories = [{ key = "power", ja = "電力", en = "Power and cooling" }]\n'
        "\n[partners.weights]\noffers = 80\nagreement = 0\ncountry = 10\ncontact = 10\n",
        encoding="utf-8",
    )
    cli = Cli(config_file)
    categories = json.loads(cli("challenges", "categories", "--json").stdout)
    assert categories == [{"key": "power", "ja": "電力", "en": "Power and cooling"}]
    assert _add(cli, "p-1", category="power").exit_code == 0
    refused = _add(cli, "p-2", category="compute")
    assert refused.exit_code == 2 and "expected one of power" in refused.output

    config_file.write_text(text + '\n[challenges]\ncategories = [{ key = "Bad Key", ja = "x", en = "x" }]\n',
                           encoding="utf-8")  # fmt: skip
    bad = Cli(config_file)("challenges", "categories")
    assert bad.exit_code == 2 and "invalid [challenges] configuration" in bad.output and "Traceback" not in bad.output

    config_file.write_text(text + "\n[challengez]\nx = 1\n", encoding="utf-8")
    typo = Cli(config_file)("status")
    assert typo.exit_code == 2 and "challengez" in typo.output
