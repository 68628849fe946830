"""Introductions: proposed -> introduced -> agreed (or declined), history with actor/time/note, illegal moves refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tests.data_support import as_json, ok, seed_companies


def _setup(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    ok(cli("data", "holder", "add", "nii", "--name-en", "NII"))
    common = ["--holder", "nii", "--modality", "text", "--access", "download", "--language", "ja"]
    ok(cli("data", "dataset", "add", "open", "--title-en", "Open", "--licence", "CC-BY-4.0", *common))
    ok(cli("data", "dataset", "add", "nc", "--title-en", "NC", "--licence", "CC-BY-NC-4.0", *common))
    ok(cli("data", "need", "add", "--company", "sakura", "--language", "ja", "--require", "commercial"))


def test_status_history_and_illegal_transitions(engine: Engine, cli: Any) -> None:
    _setup(engine, cli)
    ok(cli("data", "intro", "propose", "1", "open", "--actor", "tanaka", "--note", "fits", "--now", "2026-11-01"))
    ok(cli("data", "intro", "set", "1", "introduced", "--actor", "tanaka", "--now", "2026-11-02"))
    refused = cli("data", "intro", "set", "1", "proposed")
    assert refused.exit_code == 2 and "introduced: it cannot become proposed" in refused.stderr
    ok(cli("data", "intro", "set", "1", "agreed", "--actor", "sato", "--note", "signed", "--now", "2026-11-03"))
    final = cli("data", "intro", "set", "1", "declined")
    assert final.exit_code == 2 and "nothing (final)" in final.stderr
    assert cli("data", "intro", "set", "1", "married").exit_code == 2

    (intro,) = as_json(cli("data", "intro", "list", "--json"))
    assert (intro["id"], intro["company"], intro["dataset"], intro["status"]) == (1, "sakura", "open", "agreed")
    history = as_json(cli("data", "intro", "list", "--history", "--json"))
    assert [(h["from"], h["to"], h["actor"], h["note"]) for h in history] == [
        (None, "proposed", "tanaka", "fits"),
        ("proposed", "introduced", "tanaka", ""),
        ("introduced", "agreed", "sato", "signed"),
    ]
    assert [h["at"] for h in history] == [1793491200, 1793577600, 1793664000]  # 2026-11-01..03 UTC
    assert as_json(cli("data", "intro", "list", "--status", "proposed", "--json")) == []
    assert as_json(cli("data", "intro", "list", "--company", "fuji", "--json")) == []


def test_proposals_respect_the_hard_filters_and_are_not_duplicated(engine: Engine, cli: Any) -> None:
    _setup(engine, cli)
    refused = cli("data", "intro", "propose", "1", "nc")
    assert refused.exit_code == 2 and "fails the uses filter" in refused.stderr
    assert as_json(cli("data", "intro", "list", "--json")) == []
    ok(cli("data", "intro", "propose", "1", "nc", "--force", "--note", "holder may relicense"))
    (event,) = as_json(cli("data", "intro", "list", "--history", "--json"))
    assert "holder may relicense" in event["note"] and "forced past the uses filter" in event["note"]
    again = cli("data", "intro", "propose", "1", "nc", "--force")
    assert again.exit_code == 2 and "already introduction 1 (proposed)" in again.stderr
    ok(cli("data", "intro", "set", "1", "declined", "--note", "no"))
    assert cli("data", "intro", "propose", "9", "open").exit_code == 2
    assert cli("data", "intro", "propose", "1", "missing").exit_code == 2
