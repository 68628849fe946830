"""The review committee's end-of-term pack on SQLite and PostgreSQL: granted vs used, idle share, directives,
the eval plugin's committee share (limited runs never shown as full evaluations), "not measured" for a company
no agent saw, escaping in the HTML, and the host listing the eval plugin's committee reporter."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.directives.engine import apply_findings
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.records import JobRef
from quotad.ledger.registry import AccountRef, add_company
from quotad.ledger.telemetry import GpuUsageRow, upsert_gpu_usage
from quotad.notify.config import NotifyConfig
from quotad.plugins.api import (
    Bilingual,
    CommitteeContent,
    CommitteeRequest,
    IdleShare,
    LedgerView,
    ReportTable,
    read_only,
)
from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.ingest import SourceFile, ingest_files
from quotad.plugins.eval.store import RunSpec
from quotad.plugins.host import PluginRegistry
from quotad.plugins.review.pack import (
    CompanyPack,
    PackError,
    build_pack,
    pack_csv,
    pack_html,
    pack_markdown,
    render_pack,
)
from quotad.policies.base import Finding, Severity, Subject, Threshold
from quotad.policies.config import PoliciesConfig
from quotad.units import GpuCatalog
from tests.test_plugin_common import (
    LM_EVAL_EN,
    LM_EVAL_JA,
    LM_EVAL_LIMITED,
    NOW,
    ledger,
    plugin_tables,
    registry,
    seed_programme,
    with_builtins,
)

__all__ = ["ledger", "plugin_tables", "registry", "with_builtins"]

H = 3600
NOV, MAY = 1793491200, 1809129600  # 2026-11-01, 2027-05-01 UTC: seed_programme's grant period
OCT20 = NOV - 12 * 86400
EVIL_EN = '<script>alert("x")</script> & Co'
RULES = Rules(PoliciesConfig(), DirectivesConfig(cooldown_hours=24, escalate_after=2), NotifyConfig())
POLICIES = {"quota_threshold", "idle_allocation"}


def agent_row(**kw: object) -> GpuUsageRow:
    """One agent row for sakura's job 1 on c1 (8 GPUs from 2026-11-02T00:00Z); fields overridden by ``kw``."""
    hour = NOV + 24 * H
    base: dict[str, object] = dict(
        cluster="c1", job_id=1, node="gpu001", gpu_index=0, hour=hour, gpu_uuid="GPU-0", account="sakura",
        user_name="alice", samples=360, observed_seconds=3600, idle_seconds=900, idle_mem_held_seconds=0,
        util_pct_seconds=2700 * 90, util_max=99, mem_used_max=1, mem_total=2, energy_mj=1, allocated=True,
        job_process_seen=True, foreign_processes=0, foreign_job_id=None, idle_since=None, recent_seconds=0,
        recent_idle_seconds=0, recent_util_pct_seconds=0, throttle_mask=0, xid_events=0, last_xid=None,
        ecc_uncorrected=0, first_sample=hour, last_sample=hour + H, updated_at=hour + H,
    )  # fmt: skip
    base.update(kw)
    return GpuUsageRow(**base)  # type: ignore[arg-type]


def finding(policy: str, subject: Subject, severity: Severity) -> Finding:
    return Finding(
        policy=policy, subject=subject, severity=severity, level="step-80", summary=f"{subject.key}: {policy}",
        threshold=Threshold("step_pct", 80, "%", ">="), figures=(),
    )  # fmt: skip


def tick(conn: Connection, findings: list[Finding], now: int) -> None:
    apply_findings(conn, findings, evaluated=POLICIES, enabled=POLICIES, now=now, rules=RULES, working_day=True)


def ingest(conn: Connection, settings: Settings, spec: RunSpec, *paths: Path) -> None:
    view = LedgerView(conn, GpuCatalog(settings.gpu_types))
    sources = [SourceFile(p.name, p.read_bytes(), p) for p in paths]
    report = ingest_files(conn, view, sources, spec, load_catalog(), now=NOW - H)
    assert not report.refused, report.refused


@pytest.fixture
def term(ledger: Engine, settings: Settings) -> Engine:
    """seed_programme plus agent rows, directives, eval results and a company with a hostile name."""
    seed_programme(ledger, settings)
    with ledger.begin() as conn:
        add_company(
            conn, company_id="evil", name_ja="=悪|社", name_en=EVIL_EN, now=NOW, accounts=[AccountRef("c1", "evil")]
        )
        upsert_gpu_usage(
            conn,
            [
                agent_row(),  # 3,600 s measured, 900 idle
                agent_row(gpu_index=1, gpu_uuid="GPU-1", hour=NOV + 25 * H, idle_seconds=2700),  # 3,600 / 2,700
                agent_row(gpu_index=2, gpu_uuid="GPU-2", allocated=False, idle_seconds=3600),  # not its allocation
                agent_row(gpu_index=3, gpu_uuid="GPU-3", hour=NOV - H, idle_seconds=3600),  # before the term
                agent_row(gpu_index=4, gpu_uuid="GPU-4", account="ghost", idle_seconds=3600),  # nobody's account
            ],
        )
        grant = Subject("sakura", grant_id=1)
        # Before the term: opened in October, so not "received in the term" (resolved by the next tick).
        tick(conn, [finding("quota_threshold", Subject("sakura", grant_id=7), Severity.WARNING)], OCT20)
        tick(
            conn,
            [
                finding("quota_threshold", grant, Severity.NOTICE),
                finding("quota_threshold", Subject("sakura", grant_id=2), Severity.NOTICE),
                finding("idle_allocation", Subject("sakura", "c1", "sakura", JobRef("c1", 1)), Severity.WARNING),
                finding("quota_threshold", Subject("fuji", grant_id=3), Severity.CRITICAL),
            ],
            NOW - 2 * H,
        )
        ingest(conn, settings, RunSpec("sakura", "sakura-13b-v1", 120000, "private"), LM_EVAL_EN, LM_EVAL_JA)
        ingest(conn, settings, RunSpec("fuji", "fuji-7b", 3000, "consortium"), LM_EVAL_LIMITED)
    return ledger


def make_pack(engine: Engine, settings: Settings, registry: PluginRegistry, **kw: object) -> list[CompanyPack]:
    args: dict[str, object] = {"company_ids": ["sakura", "fuji", "kumo", "evil"], "start": NOV, "end": MAY, "now": NOW}
    args.update(kw)
    with read_only(engine) as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        return build_pack(view, registry.committee_reporters(), conn, settings, **args)  # type: ignore[arg-type]


@pytest.fixture
def packs(term: Engine, settings: Settings, registry: PluginRegistry) -> dict[str, CompanyPack]:
    return {p.company_id: p for p in make_pack(term, settings, registry)}


def tables(pack: CompanyPack) -> dict[str, ReportTable]:
    return {f"{source}:{t.key}": t for source, t in pack.tables}


def test_granted_vs_used_compute_and_idle_share_by_hand(packs: dict[str, CompanyPack]) -> None:
    sakura, fuji = packs["sakura"], packs["fuji"]
    # sakura: 8 GPUs x 45,000 s = 100 GPU-h of H100 against 50,000 GPU-h granted in H100.
    assert (sakura.unit and sakura.unit.gpu_type) == "h100"
    assert (sakura.granted, sakura.used) == (50_000 * H, 8 * 45_000)
    assert sakura.used_ratio == pytest.approx(100 / 50_000)
    assert sakura.compute.gpu_hours == pytest.approx(100.0)
    assert sakura.compute.eflops_hours == pytest.approx(8 * 45_000 * 989 / 3.6e9)
    assert [(g.unit.gpu_type, g.amount, g.grants) for g in sakura.grants] == [("h100", 50_000 * H, 1)]
    # Allocated and measured: two GPU-hours in the term (the unallocated, pre-term and unclaimed rows left out).
    assert sakura.idle is not None
    assert (sakura.idle.measured_gpu_seconds, sakura.idle.idle_gpu_seconds) == (7200, 3600)
    assert sakura.idle_ratio == pytest.approx(0.5)
    # fuji: 56 H200 x 98,771 s at 989 TFLOPS, against 40 EFLOPS-h (a normalised pool grant).
    tflop = 56 * 98_771 * 989
    assert fuji.unit is not None and fuji.unit.normalised
    assert (fuji.granted, fuji.used) == (40 * 1_000_000 * H, tflop)
    assert fuji.used_ratio == pytest.approx(tflop / (40 * 3.6e9))
    assert fuji.compute.gpu_hours == pytest.approx(56 * 98_771 / H)


def test_directives_received_in_the_term_by_policy_and_severity(packs: dict[str, CompanyPack]) -> None:
    sakura = [(d.policy, d.severity_label, d.count) for d in packs["sakura"].directives]
    assert sakura == [("idle_allocation", "warning", 1), ("quota_threshold", "notice", 2)]  # October's left out
    assert [(d.policy, d.severity_label, d.count) for d in packs["fuji"].directives] == [
        ("quota_threshold", "critical", 1)
    ]
    assert packs["sakura"].directives_total == 3 and packs["kumo"].directives == ()


def test_eval_results_office_level_and_a_limited_run_is_not_a_full_evaluation(packs: dict[str, CompanyPack]) -> None:
    sakura = tables(packs["sakura"])
    (summary,) = sakura["eval:eval-summary"].rows
    assert summary[:2] == ("sakura-13b-v1", 120000)  # a private run: the committee sees it
    ja, en = summary[2], summary[3]
    assert isinstance(ja, str) and isinstance(en, str)  # printed by the eval plugin's one rounding rule
    assert ja.count(".") == 1 and len(ja.split(".")[1]) == 2
    bench = sakura["eval:eval-benchmarks"].rows
    for lang, avg in (("Japanese", ja), ("English", en)):
        normalised = [float(r[5]) for r in bench if getattr(r[1], "en", None) == lang and isinstance(r[5], str)]
        assert normalised and float(avg) == pytest.approx(sum(normalised) / len(normalised), abs=0.01)
    assert "eval:eval-limited" not in sakura
    fuji = tables(packs["fuji"])
    assert fuji["eval:eval-summary"].rows == ()  # only a limited run: no results, no averages
    assert fuji["eval:eval-summary"].note is not None and "No full evaluation" in fuji["eval:eval-summary"].note.en
    assert "eval:eval-benchmarks" not in fuji
    (limited,) = fuji["eval:eval-limited"].rows
    assert limited[:4] == ("fuji-7b", 3000, "lm-evaluation-harness", 100.0)
    md = pack_markdown([packs["fuji"]])
    assert "Limited runs (not full evaluations)" in md and "fuji-7b" in md


def test_no_data_is_not_measured_never_zero(packs: dict[str, CompanyPack]) -> None:
    fuji, kumo = packs["fuji"], packs["kumo"]
    assert fuji.idle is None and fuji.idle_ratio is None  # used compute, but no agent saw its jobs
    assert kumo.idle is None and kumo.unit is None and kumo.grants == () and kumo.compute.gpu_seconds == 0
    for pack in (fuji, kumo):
        md = pack_markdown([pack])
        line = next(x for x in md.splitlines() if "Idle share" in x)
        assert "未計測 / not measured" in line and "%" not in line
    rows = list(csv.DictReader(io.StringIO(pack_csv([fuji, packs["sakura"]]))))
    idle = {(r["company_id"], r["field_en"]): r["value"] for r in rows if r["section"] == "ledger"}
    assert idle[("fuji", "idle_share")] == "" and idle[("fuji", "idle_measured")] == "false"
    assert float(idle[("sakura", "idle_share")]) == pytest.approx(0.5)
    assert float(idle[("sakura", "gpu_hours")]) == pytest.approx(100.0)


def test_markdown_and_html_show_the_figures_bilingually(packs: dict[str, CompanyPack]) -> None:
    md = pack_markdown([packs["sakura"]])
    assert md.index("さくらAI") < md.index("Sakura AI")
    assert "| 使用率 / Used ratio | 0.2 % |" in md
    assert "| 台帳の状況の時点 / Ledger position as of | 2026-11-25 |" in md  # now, the term still running
    assert "| アイドル率 (計測分) / Idle share (of measured) | 50.0 % (1.0 / 2.0 GPU-h) |" in md
    assert "| idle_allocation | warning | 1 |" in md
    html = pack_html([packs["sakura"], packs["kumo"]])
    assert "50.0 % (1.0 / 2.0 GPU-h)" in html and "雲テック / Kumo Tech" in html


def test_html_and_markdown_escape_company_names(packs: dict[str, CompanyPack]) -> None:
    html = pack_html([packs["evil"]])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html
    md = pack_markdown([packs["evil"]])
    assert '## =悪\\|社 / \\<script\\>alert("x")\\</script\\> & Co (evil)' in md
    assert "<script>" not in md
    rows = list(csv.DictReader(io.StringIO(pack_csv([packs["evil"]]))))
    assert {(r["name_ja"], r["name_en"]) for r in rows} == {("'=悪|社", EVIL_EN)}  # no formula in a spreadsheet


def test_company_selection_term_and_unknown_companies(
    term: Engine, settings: Settings, registry: PluginRegistry
) -> None:
    everyone = make_pack(term, settings, registry, company_ids=[])
    assert [p.company_id for p in everyone] == ["evil", "fuji", "kumo", "sakura"]
    with pytest.raises(NotFoundError, match="nope"):
        make_pack(term, settings, registry, company_ids=["sakura", "nope"])
    with pytest.raises(UsageError):
        make_pack(term, settings, registry, start=MAY, end=NOV)
    # The term before: no use charged, only the pre-term agent row (all idle) and October's directive.
    (early,) = make_pack(term, settings, registry, company_ids=["sakura"], start=OCT20 - 86400, end=NOV)
    assert early.compute.gpu_seconds == 0 and early.idle == IdleShare(3600, 3600) and early.idle_ratio == 1.0
    assert [(d.policy, d.severity_label, d.count) for d in early.directives] == [("quota_threshold", "warning", 1)]


def test_a_failing_reporter_stops_the_pack_naming_the_plugin(term: Engine, settings: Settings) -> None:
    def broken(request: CommitteeRequest) -> CommitteeContent:
        raise RuntimeError("boom")

    def other(request: CommitteeRequest) -> CommitteeContent:
        table = ReportTable("t", Bilingual("表", "Table"), (), ())
        return CommitteeContent(tables={"sakura": (table,), "not-asked": (table,)})

    with read_only(term) as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        (pack,) = build_pack(
            view, [("other", other)], conn, settings, company_ids=["sakura"], start=NOV, end=MAY, now=NOW
        )
        assert [(s, t.key) for s, t in pack.tables] == [("other", "t")]
        with pytest.raises(PackError, match=r"'broken'.*boom"):
            build_pack(view, [("broken", broken)], conn, settings, company_ids=["sakura"], start=NOV, end=MAY, now=NOW)


def test_registry_lists_the_eval_committee_reporter(registry: PluginRegistry) -> None:
    from quotad.plugins.eval.committee import committee

    reporters = dict(registry.committee_reporters())
    assert reporters.get("eval") is committee
    assert "site" not in reporters  # a plugin without a committee share is not listed


def test_render_pack_by_format_name(packs: dict[str, CompanyPack]) -> None:
    chosen = [packs["kumo"]]
    assert render_pack(chosen, "md") == pack_markdown(chosen)
    assert render_pack(chosen, "csv").startswith("company_id,name_ja,name_en,section,")
    assert render_pack(chosen, "html").startswith("<!DOCTYPE html>")
    with pytest.raises(UsageError, match="pdf"):
        render_pack(chosen, "pdf")
