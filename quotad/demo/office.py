"""The demo's office records: a few challenges, two partners with a request and an introduction, and the
office's findings, so that ``quotad programme report`` on the demo ledger has something in every chapter it
can fill. Written through the plugins' own store functions, as their commands would."""

from __future__ import annotations

from sqlalchemy import Engine

from quotad.plugins.challenges.records import ChallengeSpec
from quotad.plugins.challenges.store import save
from quotad.plugins.partners.records import PartnerSpec, RequestSpec
from quotad.plugins.partners.store import add_partner, add_request, propose_intro, set_intro_status
from quotad.plugins.programme.findings import set_finding
from quotad.timeutil import format_day
from quotad.units import SECONDS_PER_DAY

__all__ = ["seed_office"]

ACTOR = "demo-office"

_CHALLENGES = (
    # key, company, days ago, category, severity, visibility, ja, en, status
    (
        "demo-1",
        "hikari-labs",
        120,
        "data_acquisition",
        "high",
        "public",
        "医療分野のデータ利用許諾に3か月以上かかる",
        "Licensing medical text takes three months or more",
        "in_progress",
    ),
    (
        "demo-2",
        None,
        75,
        "compute",
        "medium",
        "consortium",
        "長時間の学習中にノード障害が続いた",
        "Node failures kept interrupting long training runs",
        "resolved",
    ),
    (
        "demo-3",
        "unkai-systems",
        40,
        "evaluation",
        "medium",
        "private",
        "日本語の評価データが不足している",
        "Too few Japanese evaluation sets for the target domain",
        "open",
    ),
    (
        "demo-4",
        None,
        20,
        "talent",
        "low",
        "public",
        "分散学習の経験者が採用できない",
        "Hard to hire engineers with distributed-training experience",
        "open",
    ),
)


def seed_office(engine: Engine, *, now: int, tz: str) -> None:
    with engine.begin() as conn:
        for key, company, ago, category, severity, visibility, ja, en, status in _CHALLENGES:
            spec = ChallengeSpec(
                key,
                company,
                format_day(now - ago * SECONDS_PER_DAY, tz),
                category,
                severity,
                ja,
                en,
                "interview",
                "",
                status,
                "",
                visibility,
            )
            save(conn, spec, actor=ACTOR, now=now - ago * SECONDS_PER_DAY)
        add_partner(
            conn,
            PartnerSpec(
                "example-cloud",
                "Example Cloud Inc.",
                "",
                "US",
                "tech_firm",
                ("compute_credits", "technical_exchange"),
                ("partners@cloud.example",),
                "signed",
                format_day(now - 60 * SECONDS_PER_DAY, tz),
                "none",
                "",
                "",
            ),
            now=now,
        )
        add_partner(
            conn,
            PartnerSpec(
                "institut-demo",
                "Institut Démo",
                "",
                "FR",
                "research_institute",
                ("joint_research", "evaluation"),
                (),
                "none",
                "",
                "negotiating",
                "",
                "",
            ),
            now=now,
        )
        request = add_request(
            conn,
            RequestSpec("hikari-labs", ("compute_credits",), ("US",), "H100 credits", ""),
            now=now - 30 * SECONDS_PER_DAY,
        )
        intro = propose_intro(conn, request.id, "example-cloud", actor=ACTOR, note="", now=now - 25 * SECONDS_PER_DAY)
        set_intro_status(conn, intro.id, "introduced", actor=ACTOR, note="", now=now - 20 * SECONDS_PER_DAY)
        set_finding(
            conn,
            "challenges",
            "ja",
            "データの取得、とりわけ医療分野の利用許諾が開発を最も遅らせた。",
            actor=ACTOR,
            now=now,
        )
        set_finding(
            conn,
            "challenges",
            "en",
            "Getting data, above all licensing medical text, slowed development the most.",
            actor=ACTOR,
            now=now,
        )
