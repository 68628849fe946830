"""Golden mails: every policy's notice, the daily digest and the weekly summary, rendered in both languages
(text and HTML) and compared with the reviewed renders under ``tests/golden/mail/``.

Why golden files: a wording or formatting slip (``Remaining: 0.0`` for an overdrawn grant, ``Next step: - %``,
``2026-12-31 `` with a stray space, a footer naming a command the reader cannot run) is only seen by reading the
whole mail. Each file was read once by a person; a change to templates or figures shows up here as a diff to
read again. Regenerate after a deliberate change with ``QUOTAD_UPDATE_GOLDEN=1`` and read the diff.

The findings carry the figures their policies emit (same keys, units and rounding helpers), from integer
GPU-seconds, so the numbers in each mail are consistent with each other (used + remaining = granted ...).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from quotad.amounts import Unit
from quotad.directives.codec import DirectiveView, dump_finding
from quotad.ledger.queries import StatusRow
from quotad.notify.message import build_message
from quotad.notify.render import CompanyNames, NoticeInput, Rendered, Renderer
from quotad.policies import figures
from quotad.policies.base import Figure, Finding, JobLine, JobRef, Severity, Subject, Threshold
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR


def parse_instant(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


GOLDEN = Path(__file__).resolve().parent / "golden" / "mail"
UPDATE = os.environ.get("QUOTAD_UPDATE_GOLDEN") == "1"
TZ = "Asia/Tokyo"
NOW = parse_instant("2026-12-07T01:30:00Z")
H = SECONDS_PER_HOUR
DAY = SECONDS_PER_DAY
H100 = Unit("h100")
SAKURA = CompanyNames("sakura", "さくらAI株式会社", "Sakura AI Inc.")
OFFICE = "office@programme.example.jp"


def renderer() -> Renderer:
    return Renderer(programme_ja="国産基盤モデル計算資源プログラム", programme_en="National Foundation Model Compute Programme",
                    timezone=TZ)


def quota_over() -> Finding:
    """151,473 GPU-h used of a 100,000 GPU-h grant: 51,473 over (the issue's case)."""
    used, granted, projected = 151_473 * H, 100_000 * H, 180_000 * H
    return Finding(
        "quota_threshold", Subject("sakura"), Severity.CRITICAL, "step-100", "s",
        Threshold("step_pct", 100, "%", ">="),
        (figures.unit_label(H100), figures.amount("used", used, H100), figures.amount("granted", granted, H100),
         figures.amount("remaining", granted - used, H100), figures.amount("over_by", used - granted, H100),
         figures.percent("used_pct", figures.ratio_pct(used, granted)), figures.amount("projected", projected, H100),
         figures.percent("projected_pct", figures.ratio_pct(projected, granted)),
         figures.day("period_last_day", parse_instant("2027-04-01T00:00:00+09:00") - 1, TZ),
         Figure("grant_ids", "3", "")),
        urgent=True, enforceable=True,
    )


def quota_step() -> Finding:
    used, granted, projected = 82_000 * H, 100_000 * H, 110_000 * H
    return Finding(
        "quota_threshold", Subject("sakura"), Severity.NOTICE, "step-80", "s", Threshold("step_pct", 80, "%", ">="),
        (figures.unit_label(H100), figures.amount("used", used, H100), figures.amount("granted", granted, H100),
         figures.amount("remaining", granted - used, H100),
         figures.percent("used_pct", figures.ratio_pct(used, granted)), figures.amount("projected", projected, H100),
         figures.percent("projected_pct", figures.ratio_pct(projected, granted)),
         figures.day("period_last_day", parse_instant("2027-04-01T00:00:00+09:00") - 1, TZ),
         Figure("next_step_pct", 90, "%"), Figure("grant_ids", "3", "")),
    )


def forecast() -> Finding:
    """70,000 of 100,000 used, 2,000 a day: the 30,000 left last 15 days, to 2026-12-22; the period ends 03-31."""
    used, granted, burn = 70_000 * H, 100_000 * H, 2_000 * H
    left = granted - used
    runout = NOW + left * DAY // burn
    period_end = parse_instant("2027-04-01T00:00:00+09:00")
    projected = used + burn * (period_end - NOW) // DAY
    return Finding(
        "forecast_overrun", Subject("sakura"), Severity.WARNING, "warning", "s", Threshold("margin_days", 14, "days", ">"),
        (figures.unit_label(H100), figures.day("runout_day", runout, TZ), figures.days("days_early", period_end - runout),
         figures.days("days_left", runout - NOW), figures.amount("burn_per_day", burn, H100),
         figures.amount("remaining", left, H100), figures.amount("used", used, H100),
         figures.amount("granted", granted, H100), figures.amount("projected", projected, H100),
         figures.percent("projected_pct", figures.ratio_pct(projected, granted)),
         figures.day("period_last_day", period_end - 1, TZ)),
        enforceable=True,
    )


def idle(*, hold: bool) -> Finding:
    """Job 812345 holds 8 GPUs, 6 of them idle (<= 5 %) for 150 (shortest) to 190 minutes."""
    shortest, longest = (150, 190) if hold else (65, 80)
    wasted = 4 * shortest * 60 + 2 * longest * 60
    ref = JobRef("abci", 812345)
    return Finding(
        "idle_allocation", Subject("sakura", cluster="abci", account="sakura-llm", job=ref),
        Severity.CRITICAL if hold else Severity.WARNING, f"{'hold' if hold else 'idle'}:6", "s",
        Threshold("idle_minutes", 60, "min", ">="),
        (Figure("job_id", 812345, ""), Figure("cluster", "abci", ""), Figure("account", "sakura-llm", ""),
         Figure("user", "tanaka", ""), Figure("idle_gpus", 6, "GPUs"), Figure("job_gpus", 8, "GPUs"),
         Figure("idle_minutes", shortest, "min"), Figure("longest_idle_minutes", longest, "min"),
         figures.hours("wasted_gpu_hours", wasted), Figure("max_util_pct", 5, "%"),
         Figure("hold_after_minutes", 120, "min"),
         Figure("gpus", "gpu-a012:0 gpu-a012:1 gpu-a012:2 gpu-a012:3 gpu-a013:0 gpu-a013:1", "")),
        jobs=(JobLine("abci", 812345, "sakura-llm", "tanaka", 8, round(wasted / H, 1), longest, "min idle"),),
        urgent=hold, enforceable=hold,
    )


def low_efficiency() -> Finding:
    return Finding(
        "low_efficiency", Subject("sakura"), Severity.WARNING, "warning", "s", Threshold("min_util_pct", 40, "%", "<"),
        (figures.percent("util_pct", 23.4), Figure("jobs", 12, "jobs"), Figure("jobs_measured", 11, "jobs"),
         figures.hours("gpu_hours", 3_072 * H), figures.percent("coverage_pct", 91.7), Figure("window_hours", 24, "h")),
        jobs=(JobLine("abci", 812001, "sakura-llm", "tanaka", 64, 1536.0, 12.5, "% util"),
              JobLine("abci", 812002, "sakura-llm", "suzuki", 32, 768.0, 18.0, "% util")),
    )


def out_of_programme(kind: str) -> Finding:
    unclaimed = kind == "unclaimed"
    return Finding(
        "out_of_programme", Subject(None if unclaimed else "sakura", cluster="abci",
                                    account="mystery" if unclaimed else "sakura-llm"),
        Severity.WARNING, kind, "s", Threshold("min_gpu_hours", 1, "GPU-h", ">"),
        (Figure("kind", kind, ""), Figure("cluster", "abci", ""),
         Figure("account", "mystery" if unclaimed else "sakura-llm", ""), Figure("jobs", 2, "jobs"),
         figures.hours("gpu_hours", 96 * H), Figure("partitions", "gpu-prog", ""), Figure("lookback_hours", 24, "h")),
        jobs=(JobLine("abci", 813001, "mystery" if unclaimed else "sakura-llm", "yamada", 8, 64.0, 64.0,
                      "GPU-h outside"),
              JobLine("abci", 813002, "mystery" if unclaimed else "sakura-llm", "yamada", 4, 32.0, 32.0,
                      "GPU-h outside")),
    )


def underuse(grant: int, cluster: str | None, used_h: int, planned_h: int) -> Finding:
    used, planned, granted = used_h * H, planned_h * H, 120_000 * H
    return Finding(
        "underuse", Subject("sakura", cluster=cluster, grant_id=grant), Severity.NOTICE, "notice", "s",
        Threshold("min_plan_pct", 70, "%", "<"),
        (figures.unit_label(H100), figures.amount("used", used, H100), figures.amount("planned_to_date", planned, H100),
         figures.percent("used_of_plan_pct", figures.ratio_pct(used, planned)),
         Figure("shortfall_gpu_hours", float(planned_h - used_h), "GPU-h (H100)"),
         figures.amount("shortfall", planned - used, H100), figures.percent("period_elapsed_pct", 55.6),
         figures.amount("granted", granted, H100),
         figures.day("period_last_day", parse_instant("2027-04-01T00:00:00+09:00") - 1, TZ),
         Figure("plan", "linear", "")),
    )


NOTICES: dict[str, tuple[Finding, int, str, bool]] = {
    # name: (finding, notice number, kind, escalated)
    "quota_threshold-over": (quota_over(), 3, "change", True),
    "quota_threshold-step": (quota_step(), 1, "first", False),
    "forecast_overrun": (forecast(), 1, "first", False),
    "idle_allocation-idle": (idle(hold=False), 1, "first", False),
    "idle_allocation-hold": (idle(hold=True), 2, "change", False),
    "low_efficiency": (low_efficiency(), 2, "reminder", False),
    "out_of_programme-outside": (out_of_programme("outside_period"), 1, "first", False),
    "out_of_programme-unclaimed": (out_of_programme("unclaimed"), 1, "first", False),
    "underuse": (underuse(11, "abci", 41_230, 70_000), 1, "first", False),
}


def directive(id_: int, f: Finding, *, state: str, notices: int, opened: str) -> DirectiveView:
    at = parse_instant(opened)
    return DirectiveView(
        id=id_, policy=f.policy, subject_key=f.subject.key, company_id=f.subject.company_id,
        cluster=f.subject.cluster, account=f.subject.account, job_id=f.subject.job.job_id if f.subject.job else None,
        grant_id=f.subject.grant_id, state=state, base_severity=f.severity, severity=f.severity, level=f.level,
        summary=f.summary, finding_json=dump_finding(f), urgent=f.urgent, enforceable=f.enforceable, expires_at=None,
        opened_at=at, last_seen_at=NOW, changed_at=at, notices=notices, unchanged_notices=notices, escalation=0,
        last_notified_at=None, notified_level=None, notified_severity=None, acknowledged_at=None, acknowledged_by="",
        closed_at=None, close_reason="",
    )


def digest_directives() -> list[DirectiveView]:
    """The issue's case: two underuse directives (#11, #12) of one company, on two grants, and a new one."""
    return [
        directive(11, underuse(11, "abci", 41_230, 70_000), state="notified", notices=2, opened="2026-11-30T00:00:00Z"),
        directive(12, underuse(12, "tsubame", 20_540, 35_000), state="notified", notices=1,
                  opened="2026-12-01T00:00:00Z"),
        directive(14, low_efficiency(), state="open", notices=0, opened="2026-12-06T23:00:00Z"),
    ]


def renders() -> dict[str, Rendered]:
    r = renderer()
    out = {}
    for name, (finding, number, kind, escalated) in NOTICES.items():
        company = SAKURA if finding.subject.company_id else r.office()
        out[f"notice-{name}"] = r.notice(
            NoticeInput(finding, 20 + len(out), number, kind, finding.severity, escalated, company, NOW,
                        reply_to=OFFICE)
        )
    # an English-speaking contact reads English first; a job's user is greeted by name and told why
    out["notice-quota_threshold-over-en-first"] = r.notice(
        NoticeInput(quota_over(), 20, 3, "change", Severity.CRITICAL, True, SAKURA, NOW, reply_to=OFFICE,
                    languages=("en", "ja"))
    )
    out["notice-idle_allocation-to-user"] = r.notice(
        NoticeInput(idle(hold=True), 24, 2, "change", Severity.CRITICAL, False, SAKURA, NOW, reply_to=OFFICE,
                    user="tanaka")
    )
    out["digest"] = r.digest(SAKURA, digest_directives(), now=NOW, reply_to=OFFICE)
    out["digest-en-first"] = r.digest(SAKURA, digest_directives(), now=NOW, reply_to=OFFICE, languages=("en", "ja"))
    rows = [
        StatusRow("sakura", SAKURA.name_ja, SAKURA.name_en, H100, 100_000 * H, 151_473 * H, 14_000 * H, 7 * DAY,
                  180_000 * H, None, None, 512, (3,)),
        StatusRow("kaede", "かえでラボ", "Kaede Lab", H100, 60_000 * H, 21_000 * H, 2_100 * H, 7 * DAY, 39_000 * H,
                  None, None, 64, (5,)),
        StatusRow("nogrant", "未割当社", "No Grant Co", None, 0, 0, 0, 0, 0, None, None, 0, ()),
    ]
    names = {"sakura": SAKURA, "kaede": CompanyNames("kaede", "かえでラボ", "Kaede Lab")}
    out["weekly"] = r.weekly(positions=rows, directives=digest_directives(), names=names, week="2026-W50",
                             opened_week=4, resolved_week=1, now=NOW)
    return out


CASES = renders()


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_matches_the_reviewed_golden_text(name: str) -> None:
    rendered = CASES[name]
    files = {"txt": f"Subject: {rendered.subject}\n\n{rendered.text}", "html": rendered.html}
    for ext, content in files.items():
        path = GOLDEN / f"{name}.{ext}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        assert path.exists(), f"{path} missing: run with QUOTAD_UPDATE_GOLDEN=1 and read it"
        assert content == path.read_text(encoding="utf-8"), f"{path.name} differs from the reviewed render"


def test_golden_mails_have_no_known_slips() -> None:
    """What the issue found, checked on every render (the golden files fix the rest)."""
    for name, rendered in CASES.items():
        for text in (rendered.text, rendered.html):
            assert "- %" not in text and "-%" not in text, name
            assert "directives ack" not in text, name  # the reader cannot run quotad
            assert " \n" not in text.replace("\r", ""), name  # no stray space at a line end (dates, units)
            assert not re.search(r"\d date\b", text), name  # a date figure printed with its unit word
    over = CASES["notice-quota_threshold-over"].text
    assert "残量: -51,473.0 GPU時間 (H100)" in over and "Remaining: -51,473.0 GPU-h (H100)" in over
    assert "割当の超過量: 51,473.0" in over and "Over the grant by: 51,473.0" in over
    assert "Next step" not in over
    digest = CASES["digest"].text
    assert "grant #11, cluster abci" in digest and "grant #12, cluster tsubame" in digest
    assert "0 notice" not in digest and "未通知" not in digest and "first reported in this digest" in digest
    en_first = CASES["notice-quota_threshold-over-en-first"]
    assert en_first.subject.index("[Critical]") < en_first.subject.index("【緊急】")
    assert en_first.text.index("Dear Sakura AI Inc. team") < en_first.text.index("以下、日本語の本文です")
    assert en_first.text.index("以下、日本語の本文です") < en_first.text.index("さくらAI株式会社 ご担当者様")
    to_user = CASES["notice-idle_allocation-to-user"].text
    assert to_user.startswith("tanaka 様") and "tanaka 様" in to_user and "Dear tanaka," in to_user


def subject_back(msg: EmailMessage) -> str:
    return str(message_from_bytes(msg.as_bytes(), policy=policy.default)["Subject"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_subjects_survive_rfc2047_folding(name: str) -> None:
    """Each subject is encoded and folded per RFC 2047 (ASCII lines <= 78) and decodes to exactly itself."""
    rendered = CASES[name]
    msg = build_message(rendered, sender="quotad@programme.example.jp", sender_name="quotad",
                        to=["ops@sakura.example.jp"], reply_to=OFFICE, message_id="<x@programme.example.jp>", now=NOW)
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii() and all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert subject_back(msg) == rendered.subject


def test_the_japanese_digest_subject_keeps_its_space() -> None:
    subject = CASES["digest"].subject
    assert "さくらAI株式会社: 本日の指示一覧" in subject
    msg = build_message(CASES["digest"], sender="q@programme.example.jp", sender_name="q",
                        to=["a@sakura.example.jp"], message_id="<x@p>", now=NOW)
    assert "さくらAI株式会社: 本日の指示一覧" in subject_back(msg)
