"""Reads and writes of the site plugin's own tables (disclosure flags, news)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, delete, insert, select

from quotad.errors import UsageError
from quotad.plugins.api import Bilingual
from quotad.plugins.site.models import SiteCompany, SiteNews

__all__ = ["NewsItem", "add_news", "disclosure_flags", "list_news", "public_companies", "set_public"]


@dataclass(frozen=True)
class NewsItem:
    id: int
    day: str
    title: Bilingual
    body: Bilingual


def set_public(conn: Connection, company_id: str, public: bool, *, now: int) -> None:
    """Record whether a company's own compute figures may appear on the public site."""
    conn.execute(delete(SiteCompany).where(SiteCompany.company_id == company_id))
    conn.execute(insert(SiteCompany).values(company_id=company_id, public=public, updated_at=now))


def disclosure_flags(conn: Connection) -> dict[str, bool]:
    return {row.company_id: row.public for row in conn.execute(select(SiteCompany.company_id, SiteCompany.public))}


def public_companies(conn: Connection) -> frozenset[str]:
    return frozenset(c for c, public in disclosure_flags(conn).items() if public)


def add_news(conn: Connection, *, day: str, title: Bilingual, body: Bilingual, now: int) -> int:
    try:
        date.fromisoformat(day)
    except ValueError:
        raise UsageError(f"--date {day!r}: expected YYYY-MM-DD") from None
    if not title.ja.strip() or not title.en.strip():
        raise UsageError("a news item needs both --title-ja and --title-en")
    stmt = insert(SiteNews).values(
        day=day, title_ja=title.ja, title_en=title.en, body_ja=body.ja, body_en=body.en, created_at=now
    )
    return int(conn.execute(stmt.returning(SiteNews.id)).scalar_one())


def list_news(conn: Connection) -> list[NewsItem]:
    stmt = select(SiteNews).order_by(SiteNews.day.desc(), SiteNews.id.desc())
    return [
        NewsItem(r.id, r.day, Bilingual(r.title_ja, r.title_en), Bilingual(r.body_ja, r.body_en))
        for r in conn.execute(stmt)
    ]
