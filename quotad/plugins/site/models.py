"""The site plugin's tables: which companies publish their compute, and the news list.

- ``site_companies``: one row per company that has a say; ``public`` True lets the site show that company's
  own compute figures. No row means not public: disclosure is opt-in, so a new company is never exposed.
- ``site_news``: bilingual news items. Events are not here: they belong to a later community plugin, which
  hands them to the site through ``PublicContent.events``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["SiteCompany", "SiteNews"]


class SiteCompany(Base):
    __tablename__ = "site_companies"
    company_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class SiteNews(Base):
    __tablename__ = "site_news"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    title_ja: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    body_ja: Mapped[str] = mapped_column(Text, default="")
    body_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
