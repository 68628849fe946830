"""Conflict enforcement in the query layer (``access.py``): a conflicted reviewer gets nothing, and cannot tell
a conflicted proposal from one that does not exist. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.errors import NotFoundError, UsageError
from quotad.plugins.api import LedgerView
from quotad.plugins.review import access, audit, people, store
from quotad.units import GpuCatalog
from tests.review_support import NOW, OFFICE, assign, give_scores, seed, writing

MISSING = 999_999


def _error(fn: object, *args: object) -> str:
    with pytest.raises(NotFoundError) as caught:
        fn(*args)  # type: ignore[operator]
    return str(caught.value)


def test_automatic_and_declared_conflicts(engine: Engine, settings: Settings) -> None:
    seeded = seed(engine, settings)
    with engine.connect() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        found = access.conflict_map(conn, view, people.list_reviewers(conn), store.list_proposals(conn, "sel"))
    pairs = {(r, pid): {(c.type, c.source) for c in reasons} for (r, pid), reasons in found.items()}
    p = seeded.proposals
    assert pairs == {
        ("bob", p["fuji"]): {("employment", "automatic")},
        ("carol", p["sakura"]): {("affiliation", "automatic")},  # full-width "SAKURA ai Research" ~ "Sakura AI"
        ("erin", p["fuji"]): {("affiliation", "automatic")},  # "富士ラボ 研究所" ~ "富士ラボ"
        ("dave", p["kumo"]): {("capital_tie", "declared")},
    }


def test_a_conflicted_reviewer_sees_nothing_of_the_proposal(engine: Engine, settings: Settings) -> None:
    seeded = seed(engine, settings)
    fuji = seeded.proposals["fuji"]
    with writing(engine, settings) as (conn, _view):
        store.add_document(conn, fuji, name="plan.pdf", content=b"%PDF secret", actor=OFFICE, now=NOW)
    with engine.connect() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        bob = access.ReviewerAccess.open(conn, view, "bob", "sel")
        assert fuji not in {x.id for x in bob.proposals()}
        assert {x.id for x in bob.proposals()} == {seeded.proposals["sakura"], seeded.proposals["kumo"]}
        missing = _error(bob.proposal, MISSING).replace(str(MISSING), "N")
        for attempt in (
            lambda: bob.proposal(fuji),
            lambda: bob.requests(fuji),
            lambda: bob.documents(fuji),
            lambda: bob.document(fuji, "plan.pdf"),
            lambda: bob.own_scores(fuji),
        ):
            assert _error(attempt).replace(str(fuji), "N") == missing
        assert fuji not in {x.id for x in bob.assigned()}
        assert [r.action for r in bob.refusals] == ["show", "show", "documents", "document", "scores"]
        # alice, without a conflict, sees it
        alice = access.ReviewerAccess.open(conn, view, "alice", "sel")
        assert alice.proposal(fuji).company_id == "fuji"
        assert [d.name for d in alice.documents(fuji)] == ["plan.pdf"]
        assert alice.refusals == []


def test_a_conflicted_reviewer_cannot_be_assigned_or_score(engine: Engine, settings: Settings) -> None:
    seeded = seed(engine, settings)
    kumo = seeded.proposals["kumo"]
    with pytest.raises(UsageError, match=r"dave.*conflict.*capital_tie"):
        assign(engine, settings, "sel", "dave", seeded.proposals["sakura"], kumo)
    with engine.connect() as conn:  # all or nothing: sakura was not assigned either
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        assert access.assignments(conn, view, "sel") == []
    with writing(engine, settings) as (conn, view):
        dave = access.ReviewerAccess.open(conn, view, "dave", "sel")
        with pytest.raises(NotFoundError):
            dave.score(kumo, "tech", 5, "great", now=NOW)
        refusals = list(dave.refusals)
    with writing(engine, settings) as (conn, _view):
        access.record_refusals(conn, refusals, now=NOW)
    with engine.connect() as conn:
        entries = [e for e in audit.list_audit(conn, entity=f"proposal:{kumo}") if e.action != "proposal.add"]
    assert [(e.actor, e.action, e.after and e.after["attempted"]) for e in entries] == [
        ("reviewer:dave", "access.refused", "score")
    ]


def test_a_conflict_found_after_scoring_voids_the_scores(engine: Engine, settings: Settings) -> None:
    seeded = seed(engine, settings)
    kumo = seeded.proposals["kumo"]
    assign(engine, settings, "sel", "alice", kumo)
    give_scores(engine, settings, "sel", "alice", kumo, tech=5, impact=4)
    with engine.connect() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        assert len(access.committee_scores(conn, view, "sel")) == 2
    with writing(engine, settings) as (conn, view):
        people.add_conflict(
            conn,
            view,
            "alice",
            company_id=None,
            proposal_id=kumo,
            type="personal",
            source="pinned",
            note="",
            actor=OFFICE,
            now=NOW,
        )
    with engine.connect() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        assert access.committee_scores(conn, view, "sel") == []
        assert [r.conflicted for r in access.assignments(conn, view, "sel")] == [True]
        alice = access.ReviewerAccess.open(conn, view, "alice", "sel")
        assert alice.assigned() == []
        with pytest.raises(NotFoundError):
            alice.own_scores(kumo)


def test_load_cap(engine: Engine, settings: Settings) -> None:
    seeded = seed(engine, settings)
    p = seeded.proposals
    with writing(engine, settings) as (conn, _view):
        people.set_cap(conn, "sel", "alice", 2, actor=OFFICE, now=NOW)
    assert assign(engine, settings, "sel", "alice", p["sakura"]) == [p["sakura"]]
    with pytest.raises(UsageError, match=r"1 of 2.*2 more would exceed the load cap"):
        assign(engine, settings, "sel", "alice", p["fuji"], p["kumo"])
    assert assign(engine, settings, "sel", "alice", p["sakura"], p["fuji"]) == [p["fuji"]]  # re-assigning is free


def test_no_attestation_no_access(engine: Engine, settings: Settings) -> None:
    seed(engine, settings)
    with writing(engine, settings) as (conn, _view):
        store.set_attestation(conn, "sel", text_ja="新しい誓約", text_en="New pledge", actor=OFFICE, now=NOW)
    with engine.connect() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        with pytest.raises(access.AttestationRequired, match="attested version 1, not the current"):
            access.ReviewerAccess.open(conn, view, "alice", "sel")
    with writing(engine, settings) as (conn, _view):
        assert people.attest(conn, "alice", "sel", now=NOW) == 2
    with engine.connect() as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        assert len(access.ReviewerAccess.open(conn, view, "alice", "sel").proposals()) == 3


def test_scoring_rules(engine: Engine, settings: Settings) -> None:
    seeded = seed(engine, settings)
    sakura = seeded.proposals["sakura"]
    with writing(engine, settings) as (conn, view):
        alice = access.ReviewerAccess.open(conn, view, "alice", "sel")
        with pytest.raises(UsageError, match="not assigned"):
            alice.score(sakura, "tech", 3, "ok", now=NOW)
    assign(engine, settings, "sel", "alice", sakura)
    with writing(engine, settings) as (conn, view):
        alice = access.ReviewerAccess.open(conn, view, "alice", "sel")
        with pytest.raises(UsageError, match="expected 1 to 5"):
            alice.score(sakura, "tech", 6, "ok", now=NOW)
        with pytest.raises(UsageError, match="requires a --comment"):
            alice.score(sakura, "tech", 4, "  ", now=NOW)
        with pytest.raises(UsageError, match="has tech, impact"):
            alice.score(sakura, "novelty", 4, "", now=NOW)
        assert alice.score(sakura, "tech", 4, "solid", now=NOW)
        assert not alice.score(sakura, "tech", 4, "solid", now=NOW)
        assert alice.score(sakura, "tech", 2, "on reflection", now=NOW + 1)
        assert alice.own_scores(sakura) == {"tech": (2, "on reflection")}
    with engine.connect() as conn:
        changes = [e for e in audit.list_audit(conn, entity=f"proposal:{sakura}") if e.action == "score.set"]
    assert next((e.before, e.after) for e in changes) == (
        {"criterion": "tech", "score": 4, "comment": "solid"},
        {"criterion": "tech", "score": 2, "comment": "on reflection"},
    )
