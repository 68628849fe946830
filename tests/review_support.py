"""Shared by the review tests (holds no tests): a small programme, a call with a two-criterion rubric, its
proposals and reviewers, each set up through the plugin's own functions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from quotad.config import Settings
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.registry import add_company
from quotad.plugins.api import LedgerView
from quotad.plugins.review import access, people, store
from quotad.units import GpuCatalog

NOW = 1795564800  # 2026-11-25T00:00:00Z
OFFICE = "office-tester"

COMPANIES = (
    ("sakura", "さくらAI", "Sakura AI"),
    ("fuji", "富士ラボ", "Fuji Labs"),
    ("kumo", "雲テック", "Kumo Tech"),
)


@dataclass(frozen=True)
class Seeded:
    call_id: str
    proposals: dict[str, int]  # company id -> proposal id


@contextmanager
def writing(engine: Engine, settings: Settings) -> Iterator[tuple[Connection, LedgerView]]:
    with engine.begin() as conn:
        yield conn, LedgerView(conn, GpuCatalog(settings.gpu_types))


def seed(engine: Engine, settings: Settings, *, call_id: str = "sel", kind: store.CallKind = "selection") -> Seeded:
    """Companies, one call (rubric: tech weight 3 comment required, impact weight 1, both 1-5), a proposal
    per company, and reviewers:

    - ``alice``: no tie to any company;
    - ``bob``: works for fuji (``company_id``: automatic conflict with fuji);
    - ``carol``: affiliation "SAKURA ai Research" in full-width letters (automatic, NFKC and case-insensitive, with sakura);
    - ``dave``: declares a capital tie with kumo;
    - ``erin``: affiliation names fuji in Japanese (富士ラボ 研究所).
    """
    with writing(engine, settings) as (conn, view):
        sync_clusters(conn, settings)
        for cid, ja, en in COMPANIES:
            add_company(conn, company_id=cid, name_ja=ja, name_en=en, now=NOW)
        period = (NOW - 90 * 86400, NOW) if kind == "end_of_term" else (None, None)
        store.create_call(
            conn,
            store.CallSpec(
                call_id,
                kind,
                "第1期選考",
                "First selection",
                "利益相反はありません。",
                "I have no conflict.",
                period_start=period[0],
                period_end=period[1],
                load_cap=3,
            ),
            actor=OFFICE,
            now=NOW,
        )
        store.add_criterion(
            conn,
            call_id,
            store.CriterionSpec("tech", "技術", "Technical merit", 3.0, 1, 5, True),
            actor=OFFICE,
            now=NOW,
        )
        store.add_criterion(
            conn, call_id, store.CriterionSpec("impact", "効果", "Impact", 1.0, 1, 5, False), actor=OFFICE, now=NOW
        )
        proposals = {}
        for cid, _, en in COMPANIES:
            p = store.add_proposal(
                conn,
                view,
                call_id,
                company_id=cid,
                title=f"{en} <b>plan</b>",
                plan="train a 70B model",
                requests=[store.RequestSpec("c1", "h100", 1000 * 3600)],
                actor=OFFICE,
                now=NOW,
            )
            proposals[cid] = p.id
        for rid, company, affiliation in (
            ("alice", None, "University of Tokyo"),
            ("bob", "fuji", "Fuji"),
            ("carol", None, "\uff33\uff21\uff2b\uff35\uff32\uff21 ai Research"),
            ("dave", None, "Independent"),
            ("erin", None, "富士ラボ 研究所"),
        ):
            people.add_reviewer(
                conn,
                view,
                reviewer_id=rid,
                name=rid.title(),
                email=f"{rid}@example.org",
                affiliation=affiliation,
                company_id=company,
                actor=OFFICE,
                now=NOW,
            )
            people.attest(conn, rid, call_id, now=NOW)
        people.add_conflict(
            conn,
            view,
            "dave",
            company_id="kumo",
            proposal_id=None,
            type="capital_tie",
            source="declared",
            note="holds shares",
            actor="dave",
            now=NOW,
        )
    return Seeded(call_id, proposals)


def assign(engine: Engine, settings: Settings, call_id: str, reviewer: str, *proposal_ids: int) -> list[int]:
    with writing(engine, settings) as (conn, view):
        return access.assign(conn, view, call_id, reviewer, list(proposal_ids), actor=OFFICE, now=NOW)


def give_scores(
    engine: Engine, settings: Settings, call_id: str, reviewer: str, proposal_id: int, **scores: int
) -> None:
    with writing(engine, settings) as (conn, view):
        acc = access.ReviewerAccess.open(conn, view, reviewer, call_id)
        for key, value in scores.items():
            acc.score(proposal_id, key, value, f"{key} comment", now=NOW)
