"""``quotad review`` end to end: the committee's workflow, and a conflicted reviewer getting nothing through
any command (the same refusal as for a proposal that does not exist). On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import Cli

MISSING = "999999"
LOGIN = pwd.getpwuid(os.geteuid()).pw_name  # the review office in the test configuration (tests/conftest.py)


def ok(cli: Cli, *args: str) -> Any:
    result = cli(*args)
    assert result.exit_code == 0, (args, result.output, result.stderr)
    return result


def refused(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 2, (args, result.output)
    return str(result.stderr)


@pytest.fixture
def committee(cli: Cli, tmp_path: Path, engine: Engine) -> dict[str, str]:
    """Three companies, call ``sel`` with a two-criterion rubric, a proposal each, four reviewers."""
    for cid, ja, en in (
        ("sakura", "さくらAI", "Sakura AI"),
        ("fuji", "富士ラボ", "Fuji Labs"),
        ("kumo", "雲テック", "Kumo Tech"),
    ):
        ok(cli, "company", "add", cid, "--name-ja", ja, "--name-en", en)
    ok(
        cli, "review", "call", "create", "sel", "--kind", "selection", "--title-ja", "第1期選考",
        "--title-en", "First selection", "--attestation-ja", "利益相反なし", "--attestation-en", "No conflict",
        "--opens", "2026-12-01", "--closes", "2026-12-20", "--load-cap", "3", "--by", "chair",
    )  # fmt: skip
    ok(cli, "review", "criterion", "add", "sel", "tech", "--title-ja", "技術", "--title-en", "Technical",
       "--weight", "3", "--comment-required")  # fmt: skip
    ok(cli, "review", "criterion", "add", "sel", "impact", "--title-ja", "効果", "--title-en", "Impact")
    ids = {}
    for cid in ("sakura", "fuji", "kumo"):
        out = ok(cli, "review", "proposal", "add", "sel", "--company", cid, "--title", f"{cid} <script>x</script>",
                 "--plan", "plan text", "--request", "c1:1000:gpu_hours:h100", "--request", "*:2.5:eflops_hours")  # fmt: skip
        ids[cid] = out.stdout.split()[1]
    ok(cli, "review", "reviewer", "add", "alice", "--name", "Alice", "--affiliation", "Kyoto University")
    ok(cli, "review", "reviewer", "add", "bob", "--name", "Bob", "--company", "fuji")
    ok(cli, "review", "reviewer", "add", "carol", "--name", "Carol", "--affiliation", "fuji labs inc.")
    ok(cli, "review", "reviewer", "add", "dave", "--name", "Dave")
    ok(cli, "review", "conflict", "add", "dave", "--company", "kumo", "--type", "advisory_role", "--note", "adviser")
    for rid in ("alice", "bob", "carol", "dave"):
        ok(cli, "review", "attest", "sel", "--reviewer", rid, "--accept")
    doc = tmp_path / "plan.md"
    doc.write_text("secret plan v1", encoding="utf-8")
    for pid in ids.values():
        ok(cli, "review", "document", "add", pid, str(doc))
    return ids


def test_conflicted_reviewers_get_nothing_through_any_command(
    cli: Cli, committee: dict[str, str], tmp_path: Path
) -> None:
    fuji = committee["fuji"]
    out = tmp_path / "got.md"
    commands = [
        ("review", "proposal", "show", "{p}", "--reviewer", "{r}"),
        ("review", "document", "list", "{p}", "--reviewer", "{r}"),
        ("review", "document", "get", "{p}", "plan.md", "--out", str(out), "--reviewer", "{r}"),
        ("review", "score", "{p}", "--reviewer", "{r}", "--criterion", "tech", "--score", "5", "--comment", "x"),
    ]
    for reviewer in ("bob", "carol"):  # bob works for fuji; carol's affiliation names it
        listed = json.loads(ok(cli, "review", "proposal", "list", "sel", "--reviewer", reviewer, "--json").stdout)
        assert fuji not in {str(r["proposal"]) for r in listed} and len(listed) == 2
        for command in commands:
            as_conflicted = refused(cli, *(a.format(p=fuji, r=reviewer) for a in command))
            as_missing = refused(cli, *(a.format(p=MISSING, r=reviewer) for a in command))
            assert as_conflicted.replace(fuji, "N") == as_missing.replace(MISSING, "N"), command
            assert "fuji" not in as_conflicted.lower() and "conflict" not in as_conflicted.lower()
        assert not out.exists()
        assignment = refused(cli, "review", "assign", "sel", reviewer, fuji)  # the office is told why
        assert "conflict" in assignment
        sheet = ok(cli, "review", "sheet", "sel", "--reviewer", reviewer, "--format", "csv").stdout
        assert "fuji" not in sheet
    audit = json.loads(ok(cli, "review", "audit", "--entity", f"proposal:{fuji}", "--json").stdout)
    refusals = [(e["actor"], json.loads(e["after"])["attempted"]) for e in audit if e["action"] == "access.refused"]
    assert sorted(refusals) == sorted(
        (f"reviewer:{r}", a) for r in ("bob", "carol") for a in ("show", "documents", "document", "score")
    )
    conflicts = json.loads(ok(cli, "review", "conflict", "list", "sel", "--json").stdout)
    assert {(c["reviewer"], str(c["proposal"]), c["source"]) for c in conflicts} == {
        ("bob", fuji, "automatic"), ("carol", fuji, "automatic"), ("dave", committee["kumo"], "declared"),
    }  # fmt: skip


def test_unattested_reviewer_sees_nothing(cli: Cli, committee: dict[str, str]) -> None:
    ok(cli, "review", "call", "attestation", "sel", "--ja", "新しい誓約", "--en", "New pledge")
    message = refused(cli, "review", "proposal", "list", "sel", "--reviewer", "alice")
    assert "attest" in message
    refused(cli, "review", "sheet", "sel", "--reviewer", "alice")
    shown = ok(cli, "review", "attest", "sel", "--reviewer", "alice")
    assert "New pledge" in shown.stdout and "not attested" in shown.stdout
    ok(cli, "review", "attest", "sel", "--reviewer", "alice", "--accept")
    assert len(json.loads(ok(cli, "review", "proposal", "list", "sel", "--reviewer", "alice", "--json").stdout)) == 3


def test_documents_are_versioned_by_content(cli: Cli, committee: dict[str, str], tmp_path: Path) -> None:
    pid = committee["sakura"]
    doc = tmp_path / "plan.md"
    assert "unchanged" in ok(cli, "review", "document", "add", pid, str(doc)).stdout  # same bytes again
    doc.write_text("secret plan v2", encoding="utf-8")
    assert "plan.md v2" in ok(cli, "review", "document", "add", pid, str(doc)).stdout
    docs = json.loads(ok(cli, "review", "document", "list", pid, "--json").stdout)
    assert [(d["name"], d["version"], d["size"]) for d in docs] == [("plan.md", 1, 14), ("plan.md", 2, 14)]
    got = tmp_path / "v1.md"
    ok(cli, "review", "document", "get", pid, "plan.md", "--version", "1", "--out", str(got), "--reviewer", "alice")
    assert got.read_text(encoding="utf-8") == "secret plan v1"
    ok(cli, "review", "document", "get", pid, "plan.md", "--out", str(got))
    assert got.read_text(encoding="utf-8") == "secret plan v2"


def test_scoring_aggregation_decisions_and_sheets(cli: Cli, committee: dict[str, str]) -> None:
    sakura, kumo, fuji = committee["sakura"], committee["kumo"], committee["fuji"]
    ok(cli, "review", "assign", "sel", "alice", sakura, kumo)
    ok(cli, "review", "assign", "sel", "bob", sakura, kumo)
    ok(cli, "review", "cap", "set", "sel", "alice", "2")
    assert "load cap" in refused(cli, "review", "assign", "sel", "alice", fuji)
    assert "requires a --comment" in refused(cli, "review", "score", sakura, "--reviewer", "alice",
                                             "--criterion", "tech", "--score", "4")  # fmt: skip
    for reviewer, pid, tech, impact in (
        ("alice", kumo, 5, 1),
        ("alice", sakura, 3, 3),
        ("bob", kumo, 1, 5),
        ("bob", sakura, 3, 5),
    ):
        ok(cli, "review", "score", pid, "--reviewer", reviewer, "--criterion", "tech", "--score", str(tech),
           "--comment", f"<i>{reviewer}</i>")  # fmt: skip
        ok(cli, "review", "score", pid, "--reviewer", reviewer, "--criterion", "impact", "--score", str(impact))
    figures = json.loads(ok(cli, "review", "aggregate", "sel", "--threshold", "0.5", "--json").stdout)
    rows = {str(r["proposal"]): r for r in figures["rows"]}
    # sakura: tech 3, impact (3+5)/2 = 4 -> 0.75*3 + 0.25*4 = 3.25; totals 3.0 and 3.5 -> population SD 0.25
    assert rows[sakura]["weighted_mean"] == pytest.approx(3.25) and rows[sakura]["spread"] == pytest.approx(0.25)
    # kumo: totals 4.0 and 2.0 -> weighted mean 3.0, SD 1.0 > 0.5: flagged
    assert rows[kumo]["weighted_mean"] == pytest.approx(3.0) and rows[kumo]["disagreement"] == "yes"
    assert (rows[sakura]["rank"], rows[kumo]["rank"], rows[fuji]["rank"]) == (1, 2, None)
    assert "accept, reject, waitlist" in refused(cli, "review", "decide", sakura, "--outcome", "continue",
                                                 "--rationale", "x")  # fmt: skip
    ok(cli, "review", "decide", sakura, "--outcome", "accept", "--rationale", "strong plan", "--by", "chair")

    sheet = ok(cli, "review", "sheet", "sel", "--reviewer", "alice", "--format", "csv").stdout
    records = list(csv.DictReader(io.StringIO(sheet)))
    assert {(r["proposal"], r["criterion"], r["score"]) for r in records} == {
        (sakura, "tech", "3"), (sakura, "impact", "3"), (kumo, "tech", "5"), (kumo, "impact", "1"),
    }  # fmt: skip
    md = ok(cli, "review", "sheet", "sel", "--reviewer", "alice", "--format", "md").stdout
    assert "評価項目 / Criterion" in md and "Technical" in md
    html = ok(cli, "review", "sheet", "sel", "--reviewer", "alice", "--format", "html").stdout
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html and "&lt;i&gt;alice" in html

    summary = ok(cli, "review", "sheet", "sel", "--summary", "--format", "csv", "--threshold", "0.5").stdout
    lines = list(csv.DictReader(io.StringIO(summary)))
    assert [r["proposal"] for r in lines] == [sakura, kumo, fuji]
    assert lines[0]["decision"] == "accept" and lines[0]["rationale"] == "strong plan"
    assert lines[1]["disagreement"] == "yes"
    summary_md = ok(cli, "review", "sheet", "sel", "--summary", "--format", "md").stdout
    assert "population" in summary_md and "母標準偏差" in summary_md
    summary_html = ok(cli, "review", "sheet", "sel", "--summary", "--format", "html").stdout
    assert "<script>x</script>" not in summary_html and "審査委員会サマリー" in summary_html

    audit = json.loads(ok(cli, "review", "audit", "--entity", f"proposal:{sakura}", "--json").stdout)
    actions = {(e["actor"], e["action"]) for e in audit}
    chair = f"{LOGIN} (for chair)"  # --by is noted beside the login that did it, never instead of it
    assert {(chair, "decision.record"), ("reviewer:alice", "score.set"), ("reviewer:bob", "score.set")} <= actions


def test_closed_call_refuses_changes(cli: Cli, committee: dict[str, str]) -> None:
    ok(cli, "review", "assign", "sel", "alice", committee["sakura"])
    ok(cli, "review", "call", "status", "sel", "closed")
    assert "closed" in refused(cli, "review", "score", committee["sakura"], "--reviewer", "alice",
                               "--criterion", "impact", "--score", "3")  # fmt: skip
    assert "closed" in refused(cli, "review", "assign", "sel", "alice", committee["kumo"])


def test_bad_input_is_named(cli: Cli, committee: dict[str, str]) -> None:
    assert "unknown cluster 'c9'" in refused(cli, "review", "proposal", "add", "sel", "--company", "kumo",
                                             "--title", "t", "--request", "c9:10:gpu_hours:h100")  # fmt: skip
    assert "already has proposal" in refused(
        cli, "review", "proposal", "add", "sel", "--company", "kumo", "--title", "t"
    )
    assert "differs from the call's" in refused(cli, "review", "criterion", "add", "sel", "x", "--title-ja", "x",
                                                "--title-en", "x", "--max", "10")  # fmt: skip
    assert "period-start" in refused(cli, "review", "call", "create", "eot", "--kind", "end_of_term", "--title-ja",
                                     "t", "--title-en", "t", "--attestation-ja", "a", "--attestation-en", "a")  # fmt: skip
    assert "no company" in refused(cli, "review", "reviewer", "add", "zed", "--name", "Z", "--company", "nope")


def test_end_of_term_summary_carries_the_pack(cli: Cli, engine: Engine) -> None:
    ok(cli, "company", "add", "sakura", "--name-ja", "さくらAI", "--name-en", "Sakura AI")
    ok(
        cli, "review", "call", "create", "eot", "--kind", "end_of_term", "--title-ja", "期末評価",
        "--title-en", "End of term", "--attestation-ja", "誓約", "--attestation-en", "Pledge",
        "--period-start", "2026-04-01", "--period-end", "2026-09-30",
    )  # fmt: skip
    ok(cli, "review", "criterion", "add", "eot", "progress", "--title-ja", "進捗", "--title-en", "Progress")
    pid = ok(cli, "review", "proposal", "add", "eot", "--company", "sakura", "--title", "Report").stdout.split()[1]
    ok(cli, "review", "decide", pid, "--outcome", "continue", "--rationale", "on track")
    md = ok(cli, "review", "sheet", "eot", "--summary", "--format", "md", "--now", "2026-10-01T00:00:00").stdout
    assert md.count("Sakura AI") >= 2  # the summary row and the pack's company section
    html = ok(cli, "review", "sheet", "eot", "--summary", "--format", "html", "--now", "2026-10-01T00:00:00").stdout
    assert html.count("<html") == 1 and 'class="pack"' in html


def test_unassign_withdraws_the_scores_and_keeps_them_in_the_audit(cli: Cli, committee: dict[str, str]) -> None:
    sakura = committee["sakura"]
    ok(cli, "review", "assign", "sel", "alice", sakura)
    ok(cli, "review", "score", sakura, "--reviewer", "alice", "--criterion", "tech", "--score", "4", "--comment", "ok")
    ok(cli, "review", "score", sakura, "--reviewer", "alice", "--criterion", "impact", "--score", "2")
    before = json.loads(ok(cli, "review", "aggregate", "sel", "--json").stdout)
    assert {str(r["proposal"]): r for r in before["rows"]}[sakura]["weighted_mean"] == pytest.approx(3.5)
    ok(cli, "review", "unassign", "sel", "alice", sakura, "--by", "chair")
    after = json.loads(ok(cli, "review", "aggregate", "sel", "--json").stdout)
    assert {str(r["proposal"]): r for r in after["rows"]}[sakura]["weighted_mean"] is None
    sheet = ok(cli, "review", "sheet", "sel", "--reviewer", "alice", "--format", "csv").stdout
    assert sakura not in {r["proposal"] for r in csv.DictReader(io.StringIO(sheet))}
    refused(cli, "review", "score", sakura, "--reviewer", "alice", "--criterion", "impact", "--score", "3")
    assert "not assigned" in refused(cli, "review", "unassign", "sel", "alice", sakura)
    audit = json.loads(ok(cli, "review", "audit", "--entity", f"proposal:{sakura}", "--json").stdout)
    removal = [e for e in audit if e["action"] == "assignment.remove"]
    assert len(removal) == 1 and removal[0]["actor"] == f"{LOGIN} (for chair)"
