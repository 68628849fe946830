"""Who a reviewer is comes from the OS login of the process, not from a typed option: a reviewer sees only
their own window, only the configured office sees everything and acts for others (audited), and a conflicted
proposal gets the missing-id answer even in a call the reviewer has not attested. Through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.test_review_cli import LOGIN, MISSING, committee, ok, refused

__all__ = ["committee"]


def as_plain_reviewer(cli: Cli, tmp_path: Path) -> Cli:
    """The same ledger with this login no longer in [review] office: it is then just reviewer ``LOGIN``."""
    text = cli.config.read_text(encoding="utf-8").replace(f'office = ["{LOGIN}"]', 'office = ["someone-else"]')
    config = tmp_path / "reviewer.toml"
    config.write_text(text, encoding="utf-8")
    return Cli(config)


def test_a_conflicted_proposal_in_an_unattested_call_is_the_missing_id_answer(
    cli: Cli, committee: dict[str, str], tmp_path: Path
) -> None:
    ok(cli, "review", "call", "create", "sel2", "--kind", "selection", "--title-ja", "第2期", "--title-en", "Second",
       "--attestation-ja", "誓約", "--attestation-en", "Pledge", "--opens", "2026-12-01", "--closes", "2026-12-20")  # fmt: skip
    fuji2 = ok(cli, "review", "proposal", "add", "sel2", "--company", "fuji", "--title", "fuji again",
               "--plan", "p", "--request", "c1:10:gpu_hours:h100").stdout.split()[1]  # fmt: skip
    sakura2 = ok(cli, "review", "proposal", "add", "sel2", "--company", "sakura", "--title", "sakura again",
                 "--plan", "p", "--request", "c1:10:gpu_hours:h100").stdout.split()[1]  # fmt: skip
    for command in (("proposal", "show"), ("document", "list")):
        as_conflicted = refused(cli, "review", *command, fuji2, "--as", "bob")  # bob works for fuji
        as_missing = refused(cli, "review", *command, MISSING, "--as", "bob")
        assert as_conflicted.replace(fuji2, "N") == as_missing.replace(MISSING, "N")
        assert "sel2" not in as_conflicted and "attest" not in as_conflicted
    # a proposal bob may see still asks for the attestation first
    assert "attest" in refused(cli, "review", "proposal", "show", sakura2, "--as", "bob")


def test_a_reviewer_is_their_login_and_sees_only_their_window(
    cli: Cli, committee: dict[str, str], tmp_path: Path
) -> None:
    fuji = committee["fuji"]
    ok(cli, "review", "reviewer", "add", LOGIN, "--name", "Logged-in reviewer", "--company", "fuji")
    ok(cli, "review", "conflict", "add", LOGIN, "--company", "kumo", "--type", "advisory_role", "--note", "adviser")
    ok(cli, "review", "attest", "sel", "--as", LOGIN, "--accept")
    me = as_plain_reviewer(cli, tmp_path)

    listed = json.loads(ok(me, "review", "proposal", "list", "sel", "--json").stdout)
    assert {str(r["proposal"]) for r in listed} == {committee["sakura"]}  # fuji (employer) and kumo hidden
    as_conflicted = refused(me, "review", "proposal", "show", fuji)
    assert as_conflicted.replace(fuji, "N") == refused(me, "review", "proposal", "show", MISSING).replace(MISSING, "N")
    conflicts = json.loads(ok(me, "review", "conflict", "list", "sel", "--json").stdout)
    assert [(c["type"], c["note"]) for c in conflicts] == [("advisory_role", "company kumo")]
    assert {str(c["proposal"]) for c in conflicts} == {"0"}  # no proposal id: it would say what is in the call
    assert not {committee["kumo"], fuji} & {str(c["proposal"]) for c in conflicts}
    ok(me, "review", "sheet", "sel", "--format", "csv")  # their own sheet, without naming themselves

    # typing another reviewer's name does not make you them; the office views are not yours
    for args in (
        ("proposal", "list", "sel", "--as", "alice"),
        ("proposal", "list", "sel", "--reviewer", "alice"),
        ("sheet", "sel", "--as", "alice"),
        ("conflict", "list", "sel", "--reviewer", "bob"),
    ):
        assert "only the review office" in refused(me, "review", *args)
    for args in (("sheet", "sel", "--summary"), ("audit",), ("assignments", "sel"), ("reviewer", "list")):
        assert "is for the review office" in refused(me, "review", *args)
    assert "is for the review office" in refused(
        me, "review", "conflict", "add", LOGIN, "--company", "sakura", "--type", "employment", "--pinned"
    )
    ok(me, "review", "conflict", "add", LOGIN, "--company", "sakura", "--type", "other", "--note", "friend")


def test_the_office_acting_as_a_reviewer_is_audited(cli: Cli, committee: dict[str, str]) -> None:
    ok(cli, "review", "proposal", "list", "sel", "--as", "alice")
    refused(cli, "review", "proposal", "show", committee["fuji"], "--as", "bob")
    entries = json.loads(ok(cli, "review", "audit", "--entity", "reviewer:", "--json").stdout)
    acts = {(e["actor"], e["entity"], json.loads(e["after"])["command"]) for e in entries
            if e["action"] == "access.as_reviewer"}  # fmt: skip
    assert {(f"office:{LOGIN}", "reviewer:alice", "list"), (f"office:{LOGIN}", "reviewer:bob", "show")} <= acts
