"""Self-assessments: answers with history and sign-off, CSV import, coverage and carrying answers over."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.governance_support import seed_companies, write


@pytest.fixture
def gov(engine: Engine, cli: Any) -> Any:
    seed_companies(engine)
    return cli


def _assess(cli: Any, company: str, item: str, answer: str, *extra: str, version: str = "1.0") -> Any:
    result = cli(
        "governance", "assess", company, item, "--answer", answer, "--by", "hanako", "--version", version, *extra
    )
    assert result.exit_code == 0, result.output
    return result


def _answers(cli: Any, company: str, *extra: str, version: str = "1.0") -> dict[str, dict[str, Any]]:
    result = cli("governance", "answers", company, "--version", version, "--json", *extra)
    assert result.exit_code == 0, result.output
    return {r["item"]: r for r in json.loads(result.stdout)["rows"]}


def test_changing_an_answer_clears_the_sign_off_and_keeps_history(gov: Any) -> None:
    _assess(gov, "sakura", "hc-dignity", "in_progress")
    refused = gov("governance", "signoff", "sakura", "hc-dignity", "--by", "office", "--version", "1.0")
    assert refused.exit_code == 2 and "still in progress" in refused.output
    _assess(gov, "sakura", "hc-dignity", "yes", "--evidence", "https://sakura.example/policy")
    signed = gov("governance", "signoff", "sakura", "hc-dignity", "--by", "office", "--version", "1.0")
    assert signed.exit_code == 0 and "1 signed off" in signed.stdout
    assert _answers(gov, "sakura")["hc-dignity"]["signed_off_by"] == "office"
    assert (
        "unchanged" in _assess(gov, "sakura", "hc-dignity", "yes", "--evidence", "https://sakura.example/policy").stdout
    )
    assert _answers(gov, "sakura")["hc-dignity"]["signed_off_by"] == "office"  # same answer: sign-off stands
    assert "sign-off cleared" in _assess(gov, "sakura", "hc-dignity", "no", "--comment", "policy withdrawn").stdout
    current = _answers(gov, "sakura")["hc-dignity"]
    assert (current["answer"], current["signed_off_by"], current["comment"]) == ("no", None, "policy withdrawn")
    hist = json.loads(gov("governance", "answers", "sakura", "--version", "1.0", "--history", "--json").stdout)["rows"]
    assert [(r["answer"], r["signed_off_by"], r["superseded_at"] is not None) for r in hist] == [
        ("in_progress", None, True),
        ("yes", "office", True),
        ("no", None, False),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuch", "hc-dignity", "--answer", "yes"), "nosuch"),
        (("sakura", "hc-nothing", "--answer", "yes"), "hc-nothing"),
        (("sakura", "hc-dignity", "--answer", "maybe"), "expected one of yes, no, na, in_progress"),
        (("sakura", "hc-dignity", "--answer", "yes", "--evidence", "file:///c/x.pdf"), "http(s) URL"),
        (("sakura", "hc-dignity", "--answer", "yes", "--version", "3.0"), "1.0, 1.1"),
    ],
)
def test_bad_answers_are_refused(gov: Any, args: tuple[str, ...], message: str) -> None:
    result = gov("governance", "assess", *args)
    assert result.exit_code == 2 and message in result.output
    assert _answers(gov, "sakura") == {}


def test_import_lands_good_rows_and_reports_bad_ones_by_line(gov: Any, tmp_path: Path) -> None:
    csv_text = (
        "item,answer,evidence,comment\n"
        "hc-dignity,yes,https://sakura.example/a,\n"
        "hc-manipulation,perhaps,,\n"  # line 3: bad answer
        "no-such-item,yes,,\n"  # line 4: unknown item
        "sf-harm-eval,N/A,,not a chat model\n"
        "hc-dignity,no,,\n"  # line 6: duplicate
        "fa-bias-eval,in progress,ftp://x/y,\n"  # line 7: bad evidence
    )
    path = write(tmp_path, "sakura.csv", csv_text)
    result = gov("governance", "import", "sakura", str(path), "--by", "taro", "--version", "1.0")
    assert result.exit_code == 1
    assert "2 answered, 0 changed, 0 unchanged, 4 refused" in result.stdout
    for where in ("sakura.csv:3: answer", "sakura.csv:4: item", "sakura.csv:6: item", "sakura.csv:7: evidence"):
        assert where in result.output, where
    answers = _answers(gov, "sakura")
    assert {k: (a["answer"], a["answered_by"]) for k, a in answers.items()} == {
        "hc-dignity": ("yes", "taro"),
        "sf-harm-eval": ("na", "taro"),
    }
    again = gov(
        "governance",
        "import",
        "sakura",
        str(write(tmp_path, "ok.csv", "item,answer\nhc-dignity,yes\n")),
        "--version",
        "1.0",
    )
    assert again.exit_code == 0 and "0 answered, 1 changed" in again.stdout  # evidence dropped: a change
    header = gov("governance", "import", "sakura", str(write(tmp_path, "h.csv", "key,answer\n")), "--version", "1.0")
    assert header.exit_code == 2 and "missing column 'item'" in header.output


def test_coverage_per_company_and_section(gov: Any) -> None:
    # sakura, safety (3 items): yes, na, no -> answered 3/3, yes share 1/(3-1) = 0.5
    for item, answer in (("sf-harm-eval", "yes"), ("sf-intended-use", "na"), ("sf-training-data", "no")):
        _assess(gov, "sakura", item, answer)
    # sakura, fairness (2 items): one in progress -> answered 1/2, yes share 0/1 = 0
    _assess(gov, "sakura", "fa-bias-eval", "in_progress")
    # fuji, privacy (3 items): two yes, one signed off -> yes share 1.0, signed-off share 0.5
    _assess(gov, "fuji", "pr-personal-data", "yes")
    _assess(gov, "fuji", "pr-memorisation", "yes")
    assert gov("governance", "signoff", "fuji", "pr-memorisation", "--by", "office", "--version", "1.0").exit_code == 0
    # sakura signs everything answered: 3 signed (safety), the in-progress one skipped
    everything = gov("governance", "signoff", "sakura", "--by", "office", "--version", "1.0")
    assert "3 signed off" in everything.stdout and "1 in progress skipped" in everything.stdout
    result = gov("governance", "coverage", "--version", "1.0", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {(r["company"], r["section"]): r for r in json.loads(result.stdout)["rows"]}
    pick = ("answered", "total", "yes_share", "signed_off_share")
    assert tuple(rows[("sakura", "safety")][k] for k in pick) == (3, 3, 0.5, 1.0)
    assert tuple(rows[("sakura", "fairness")][k] for k in pick) == (1, 2, 0.0, 0.0)
    assert tuple(rows[("fuji", "privacy")][k] for k in pick) == (2, 3, 1.0, 0.5)
    assert tuple(rows[("sakura", "(all)")][k] for k in pick) == (4, 26, 0.3333, 0.75)
    # kumo has not started: listed with nothing answered
    kumo = [r for (c, _), r in rows.items() if c == "kumo"]
    assert len(kumo) == 11 and all(r["answered"] == 0 and r["yes_share"] is None for r in kumo)
    for fmt, needle in (("csv", "kumo,Kumo Tech,human-centric,0,4"), ("md", "| kumo |"), ("table", "Kumo Tech")):
        out = gov("governance", "coverage", "--version", "1.0", "--format", fmt)
        assert out.exit_code == 0 and needle in out.stdout, fmt


def test_carry_copies_unchanged_items_and_lists_what_needs_an_answer(gov: Any) -> None:
    _assess(gov, "sakura", "hc-dignity", "yes", "--evidence", "https://sakura.example/d")  # unchanged item
    _assess(gov, "sakura", "ac-owner", "yes")  # reference changed only: carries
    _assess(gov, "sakura", "se-attacks", "no")  # text changed: needs an answer again
    _assess(gov, "sakura", "se-updates", "yes")  # removed in 1.1
    _assess(gov, "sakura", "fa-bias-eval", "no")
    _assess(gov, "sakura", "fa-bias-eval", "yes", version="1.1")  # already answered in 1.1: kept
    assert gov("governance", "signoff", "sakura", "--by", "office", "--version", "1.0").exit_code == 0
    result = gov("governance", "carry", "sakura", "--from", "1.0", "--to", "1.1", "--json")
    assert result.exit_code == 0, result.output
    actions = {r["item"]: r["action"] for r in json.loads(result.stdout)["rows"]}
    assert len(actions) == 27 and "se-updates" not in actions
    assert {k: v for k, v in actions.items() if v != "unanswered"} == {
        "hc-dignity": "carried",
        "ac-owner": "carried",
        "se-attacks": "changed",
        "hc-disinformation": "changed",
        "tr-model-card": "changed",
        "sf-incidents": "new",
        "tr-ai-content": "new",
        "fa-bias-eval": "kept",
    }
    new = _answers(gov, "sakura", version="1.1")
    assert set(new) == {"hc-dignity", "ac-owner", "fa-bias-eval"}
    assert new["hc-dignity"]["evidence"] == "https://sakura.example/d" and new["hc-dignity"]["carried_from"] == "1.0"
    assert new["hc-dignity"]["signed_off_by"] is None  # signed off against 1.0, not yet against 1.1
    assert new["fa-bias-eval"]["answer"] == "yes"
    again = json.loads(gov("governance", "carry", "sakura", "--from", "1.0", "--to", "1.1", "--json").stdout)
    assert {r["item"]: r["action"] for r in again["rows"]}["hc-dignity"] == "kept"  # idempotent
