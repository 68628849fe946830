"""Wording from templates: Japanese first in notices, digests and the weekly summary; a value a template lacks
stops the mail (StrictUndefined) instead of sending a blank; HTML escapes names; an operator's template
directory overrides a built-in file."""

from __future__ import annotations

from pathlib import Path

import pytest

from quotad.amounts import Unit
from quotad.directives.codec import DirectiveView, dump_finding
from quotad.ledger.queries import StatusRow
from quotad.notify.render import CompanyNames, NoticeInput, Renderer, RenderError
from quotad.policies.base import Figure, Finding, Severity, Subject, Threshold

ACME = CompanyNames("acme", "アクメ<社>", "Acme <Co>")


def renderer(templates: Path | None = None) -> Renderer:
    return Renderer(programme_ja="計算資源プログラム", programme_en="Compute Programme", timezone="Asia/Tokyo",
                    templates_dir=templates)


def finding(**extra: object) -> Finding:
    figures = (Figure("util_pct", 12.5, "%"), Figure("jobs", 3, "jobs"), Figure("jobs_measured", 3, "jobs"),
               Figure("gpu_hours", 1234.5, "GPU-h"), Figure("coverage_pct", 100.0, "%"),
               Figure("window_hours", 24, "h"))
    return Finding(policy="low_efficiency", subject=Subject("acme"), severity=Severity.WARNING, level="warning",
                   summary="s", threshold=Threshold("min_util_pct", 40.0, "%", "<"),
                   figures=figures + tuple(extra.get("more", ())))  # type: ignore[arg-type]


def view(f: Finding, state: str = "notified") -> DirectiveView:
    return DirectiveView(
        id=7, policy=f.policy, subject_key=f.subject.key, company_id="acme", cluster=None, account=None, job_id=None,
        grant_id=None, state=state, base_severity=f.severity, severity=f.severity, level=f.level, summary=f.summary,
        finding_json=dump_finding(f), urgent=False, enforceable=False, expires_at=None, opened_at=1_795_000_000,
        last_seen_at=1_795_000_000, changed_at=1_795_000_000, notices=2, unchanged_notices=2, escalation=0,
        last_notified_at=None, notified_level=None, notified_severity=None, acknowledged_at=None, acknowledged_by="",
        closed_at=None, close_reason="",
    )


def test_notice_is_japanese_first_with_escaped_html() -> None:
    out = renderer().notice(NoticeInput(finding(), 7, 2, "reminder", Severity.WARNING, True, ACME, 1_795_000_000))
    assert out.subject.startswith("[quotad] 【再通知・警告】アクメ<社>: GPU利用効率が低下（12.5%）")
    assert out.subject.endswith("[Reminder, Warning] Acme <Co>: low GPU efficiency (12.5%)")
    assert out.text.index("GPU時間で加重平均して 12.5%") < out.text.index("averaged 12.5%")
    assert "1,234.5 GPU時間" in out.text and "1,234.5 GPU-h" in out.text
    assert "プログラム事務局にも共有" in out.text and "programme office is copied" in out.text
    assert "アクメ&lt;社&gt;" in out.html and "アクメ<社>" not in out.html


def test_a_figure_without_a_name_stops_the_mail() -> None:
    bad = finding(more=(Figure("brand_new_figure", 1, ""),))
    with pytest.raises(RenderError, match="brand_new_figure"):
        renderer().notice(NoticeInput(bad, 7, 1, "first", Severity.WARNING, False, ACME, 0))


def test_digest_and_weekly() -> None:
    r = renderer()
    digest = r.digest(ACME, [view(finding())], now=1_795_000_000)
    assert "本日の指示一覧（1件）" in digest.subject and "daily digest (1 open)" in digest.subject
    assert digest.text.index("対応中の指示は 1 件") < digest.text.index("there are 1 open directives")
    row = StatusRow("acme", "アクメ", "Acme", Unit("h100"), 3600_000, 1800_000, 0, 0, 1800_000, 0, 1, 0)
    weekly = r.weekly(positions=[row], directives=[view(finding())], names={"acme": ACME}, week="2026-W47",
                      opened_week=2, resolved_week=1, now=1_795_000_000)
    assert "週次まとめ 2026-W47（対応中 1件）" in weekly.subject
    assert weekly.text.index("週次まとめです") < weekly.text.index("Weekly summary for 2026-W47")
    assert "500 / 1,000" in weekly.text and "(50.0%)" in weekly.text


def test_templates_dir_overrides_a_builtin(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    builtin = Path(__file__).resolve().parents[1] / "quotad" / "notify" / "templates" / "en" / "low_efficiency.j2"
    custom = builtin.read_text(encoding="utf-8").replace("low GPU efficiency", "GPUs underused")
    (tmp_path / "en" / "low_efficiency.j2").write_text(custom, encoding="utf-8")
    out = renderer(tmp_path).notice(NoticeInput(finding(), 7, 1, "first", Severity.WARNING, False, ACME, 0))
    assert "GPUs underused (12.5%)" in out.subject and "GPU利用効率が低下" in out.subject


def test_figures_keep_identifiers_copyable_and_long_lists_short() -> None:
    from quotad.notify.render import figure_text

    assert figure_text(812345, "") == "812345" and figure_text(1234.5, "GPU-h") == "1,234.5"
    gpus = " ".join(f"n{i // 8:03d}:{i % 8}" for i in range(128))
    assert figure_text(gpus, "") == " ".join(gpus.split(" ")[:16]) + " … (+112)"
