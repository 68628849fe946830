"""The community plugin's tables. Changed only by its migrations.

- ``community_events``: one row per event, keyed by a slug the office chooses (it appears in commands and
  links, so it must stay stable). Times are UTC epoch seconds; they are shown in the programme time zone.
- ``community_registrations``: one row per (event, e-mail). The e-mail is stored lower-cased and unique per
  event, so the database itself refuses a duplicate; cancelling keeps the row (status ``cancelled``) and a
  later registration with the same address reuses it, at the back of the queue.
- ``community_materials``: slides, recordings and the like, as a URL or as a file identified by its sha256
  (the bytes themselves are kept wherever the office publishes them; the hash proves which file was meant).

``company_id`` is checked through the core's query API; there is deliberately no foreign key into the core.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quotad.ledger.models import Base, IdType

__all__ = ["CommunityEvent", "CommunityMaterial", "CommunityRegistration"]


class CommunityEvent(Base):
    __tablename__ = "community_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title_ja: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[int] = mapped_column(BigInteger, index=True)
    ends_at: Mapped[int] = mapped_column(BigInteger)
    place_ja: Mapped[str] = mapped_column(Text, default="")
    place_en: Mapped[str] = mapped_column(Text, default="")
    online_url: Mapped[str] = mapped_column(Text, default="")
    #: A public page about the event (what the site links to); the online URL itself is never published.
    info_url: Mapped[str] = mapped_column(Text, default="")
    #: None: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    cancelled_at: Mapped[int | None] = mapped_column(BigInteger)


class CommunityRegistration(Base):
    __tablename__ = "community_registrations"
    __table_args__ = (UniqueConstraint("event_id", "email"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("community_events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    company_id: Mapped[str | None] = mapped_column(String(64))
    #: Position in the queue: the first waitlisted by (registered_at, id) is promoted on a cancellation.
    registered_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class CommunityMaterial(Base):
    __tablename__ = "community_materials"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("community_events.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text, default="")
    file_name: Mapped[str] = mapped_column(String(512), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    added_at: Mapped[int] = mapped_column(BigInteger)
