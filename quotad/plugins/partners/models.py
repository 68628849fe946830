"""The partners plugin's tables. Changed only by its migrations.

- ``partners_orgs``: global technology firms, research institutes, universities and public bodies the
  programme works with, keyed by a slug the office chooses; lists (offers, contacts) are stored ``;``-joined.
  NDA and MoU each have a state and the ISO date it was reached.
- ``partners_requests``: what a company seeks from a partner (kinds of offer), by when, optionally from which
  countries. ``company_id`` is checked through the ledger view (no foreign key into the core).
- ``partners_introductions`` / ``partners_intro_events``: a request introduced to a partner, with the status
  machine and history shared with the data plugin (``quotad.plugins.introductions``).
- ``partners_outreach``: the programme's outreach events (community events that invite overseas model
  developers) and the partners invited to each; the event id is checked through the community plugin's
  reference check, never by reading its tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["PartnerIntroEvent", "PartnerIntroduction", "PartnerOrg", "PartnerOutreach", "PartnerRequest"]


class PartnerOrg(Base):
    __tablename__ = "partners_orgs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_ja: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(32))
    offers: Mapped[str] = mapped_column(Text)
    contacts: Mapped[str] = mapped_column(Text, default="")
    nda: Mapped[str] = mapped_column(String(16))
    nda_on: Mapped[str] = mapped_column(String(10), default="")
    mou: Mapped[str] = mapped_column(String(16))
    mou_on: Mapped[str] = mapped_column(String(10), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PartnerRequest(Base):
    __tablename__ = "partners_requests"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    company_id: Mapped[str] = mapped_column(String(64), index=True)
    seeks: Mapped[str] = mapped_column(Text)
    countries: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    needed_by: Mapped[str] = mapped_column(String(10), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class PartnerIntroduction(Base):
    __tablename__ = "partners_introductions"
    __table_args__ = (UniqueConstraint("request_id", "partner_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("partners_requests.id"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners_orgs.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PartnerIntroEvent(Base):
    __tablename__ = "partners_intro_events"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    intro_id: Mapped[int] = mapped_column(ForeignKey("partners_introductions.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")


class PartnerOutreach(Base):
    __tablename__ = "partners_outreach"
    __table_args__ = (UniqueConstraint("event_id", "partner_id"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners_orgs.id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
