"""Reads and writes of the data plugin's own tables; the only module that touches them.

Holders and datasets are upserted by id and compared field by field first, so writing the same record again
is "unchanged" and touches nothing (not even ``updated_at``): importing one file twice changes nothing.
Introductions follow the rules shared with other plugins (``quotad.plugins.introductions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from quotad.errors import NotFoundError, UsageError
from quotad.plugins.data.models import DataDataset, DataHolder, DataIntroduction, DataIntroEvent, DataNeed
from quotad.plugins.data.records import DatasetRecord, HolderRecord, Price, join_list
from quotad.plugins.data.vocab import USES, Use
from quotad.plugins.introductions import (
    INTRO_STATUSES,
    TRANSITIONS,
    IntroEvent,
    IntroTables,
    move_intro,
    record_proposed,
)
from quotad.plugins.introductions import intro_events as _intro_events

__all__ = [
    "INTRO_STATUSES",
    "TRANSITIONS",
    "IntroEvent",
    "IntroRow",
    "NeedRecord",
    "Outcome",
    "StoredDataset",
    "add_need",
    "get_dataset",
    "get_need",
    "intro_events",
    "list_datasets",
    "list_holders",
    "list_intros",
    "list_needs",
    "propose_intro",
    "set_intro_status",
    "upsert_dataset",
    "upsert_holder",
]

Outcome = Literal["created", "updated", "unchanged"]

_INTRO_TABLES = IntroTables(DataIntroduction.__table__, DataIntroEvent.__table__)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredDataset:
    record: DatasetRecord
    source: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class NeedRecord:
    company_id: str
    domains: tuple[str, ...]
    languages: tuple[str, ...]
    modalities: tuple[str, ...]
    min_tokens: int | None
    required_uses: tuple[Use, ...]
    access_modes: tuple[str, ...]
    priority: int
    note: str = ""
    id: int = 0


@dataclass(frozen=True)
class IntroRow:
    id: int
    need_id: int
    company_id: str
    dataset_id: str
    status: str
    created_at: int
    updated_at: int


# -- holders and datasets --------------------------------------------------------------------------------------


def _upsert(conn: Connection, model: Any, key: str, values: dict[str, Any], now: int) -> Outcome:
    """Insert, update the fields that differ, or do nothing when the stored row already says the same."""
    table = model.__table__
    current = conn.execute(select(table).where(table.c.id == key)).mappings().first()
    if current is None:
        conn.execute(insert(table).values(id=key, created_at=now, updated_at=now, **values))
        return "created"
    changed = {k: v for k, v in values.items() if current[k] != v}
    if not changed:
        return "unchanged"
    conn.execute(update(table).where(table.c.id == key).values(updated_at=now, **changed))
    return "updated"


def upsert_holder(conn: Connection, holder: HolderRecord, *, source: str, now: int) -> Outcome:
    """Create the holder, or refresh the details this record gives: an empty field never blanks a stored one."""
    values = {k: v for k, v in asdict(holder).items() if k != "id"}
    current = conn.execute(select(DataHolder.source).where(DataHolder.id == holder.id)).scalar()
    if current is not None:
        values = {k: v for k, v in values.items() if v}
    # The first source that named a holder stays its source; later imports only refresh its details.
    return _upsert(conn, DataHolder, holder.id, {**values, "source": current or source}, now)


def holder_exists(conn: Connection, holder_id: str) -> bool:
    return conn.execute(select(DataHolder.id).where(DataHolder.id == holder_id)).first() is not None


def list_holders(conn: Connection) -> list[tuple[HolderRecord, str, int]]:
    """Every holder with its source and dataset count."""
    counts: dict[str, int] = {}
    for (holder_id,) in conn.execute(select(DataDataset.holder_id)):
        counts[holder_id] = counts.get(holder_id, 0) + 1
    rows = conn.execute(select(DataHolder).order_by(DataHolder.id)).all()
    return [
        (HolderRecord(r.id, r.name_ja, r.name_en, r.contact_email, r.url), r.source, counts.get(r.id, 0)) for r in rows
    ]


def _dataset_values(record: DatasetRecord) -> dict[str, Any]:
    values = asdict(record)
    for key in ("id", "holder", "price"):
        values.pop(key)
    values["domains"] = join_list(record.domains)
    values["languages"] = join_list(record.languages)
    values["price_minor"] = record.price.minor
    values["price_currency"] = record.price.currency
    return values


def upsert_dataset(conn: Connection, record: DatasetRecord, *, source: str, now: int) -> Outcome:
    """Write one dataset (and its holder when the record carries one); the holder must exist otherwise."""
    if record.holder is not None:
        upsert_holder(conn, record.holder, source=source, now=now)
    elif not holder_exists(conn, record.holder_id):
        raise NotFoundError("data holder", record.holder_id, hint="add it with `quotad data holder add` first")
    values = _dataset_values(record)
    current = conn.execute(select(DataDataset.source).where(DataDataset.id == record.id)).scalar()
    return _upsert(conn, DataDataset, record.id, {**values, "source": current or source}, now)


def _split(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def _dataset_of(row: Any) -> StoredDataset:
    record = DatasetRecord(
        id=row.id,
        holder_id=row.holder_id,
        title_ja=row.title_ja,
        title_en=row.title_en,
        description_ja=row.description_ja,
        description_en=row.description_en,
        publisher=row.publisher,
        contact_email=row.contact_email,
        url=row.url,
        domains=_split(row.domains),
        languages=_split(row.languages),
        modality=row.modality,
        size_tokens=row.size_tokens,
        size_bytes=row.size_bytes,
        licence_spdx=row.licence_spdx,
        licence_name=row.licence_name,
        allow_training=row.allow_training,
        allow_commercial=row.allow_commercial,
        allow_derivatives=row.allow_derivatives,
        access_mode=row.access_mode,
        pii_status=row.pii_status,
        copyright_status=row.copyright_status,
        price=Price(row.price_minor, row.price_currency),
    )
    return StoredDataset(record, row.source, row.created_at, row.updated_at)


def list_datasets(conn: Connection, *, holder_id: str | None = None) -> list[StoredDataset]:
    query = select(DataDataset).order_by(DataDataset.id)
    if holder_id is not None:
        query = query.where(DataDataset.holder_id == holder_id)
    return [_dataset_of(r) for r in conn.execute(query)]


def get_dataset(conn: Connection, dataset_id: str) -> StoredDataset:
    row = conn.execute(select(DataDataset).where(DataDataset.id == dataset_id)).first()
    if row is None:
        known = [r[0] for r in conn.execute(select(DataDataset.id).order_by(DataDataset.id).limit(20))]
        raise NotFoundError("dataset", dataset_id, hint="known: " + (", ".join(known) or "none"))
    return _dataset_of(row)


# -- needs -----------------------------------------------------------------------------------------------------


def add_need(conn: Connection, need: NeedRecord, *, now: int) -> int:
    result = conn.execute(
        insert(DataNeed).values(
            company_id=need.company_id,
            domains=join_list(need.domains),
            languages=join_list(need.languages),
            modalities=join_list(need.modalities),
            min_tokens=need.min_tokens,
            require_training="training" in need.required_uses,
            require_commercial="commercial" in need.required_uses,
            require_derivatives="derivatives" in need.required_uses,
            access_modes=join_list(need.access_modes),
            priority=need.priority,
            note=need.note,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _need_of(row: Any) -> NeedRecord:
    flags = {"training": row.require_training, "commercial": row.require_commercial}
    flags["derivatives"] = row.require_derivatives
    return NeedRecord(
        company_id=row.company_id,
        domains=_split(row.domains),
        languages=_split(row.languages),
        modalities=_split(row.modalities),
        min_tokens=row.min_tokens,
        required_uses=tuple(u for u in USES if flags[u]),
        access_modes=_split(row.access_modes),
        priority=row.priority,
        note=row.note,
        id=row.id,
    )


def list_needs(conn: Connection, *, company_id: str | None = None) -> list[NeedRecord]:
    """Most urgent first (priority 1 before 5), then oldest."""
    query = select(DataNeed).order_by(DataNeed.priority, DataNeed.id)
    if company_id is not None:
        query = query.where(DataNeed.company_id == company_id)
    return [_need_of(r) for r in conn.execute(query)]


def get_need(conn: Connection, need_id: int) -> NeedRecord:
    row = conn.execute(select(DataNeed).where(DataNeed.id == need_id)).first()
    if row is None:
        raise NotFoundError("data need", str(need_id), hint="see `quotad data need list`")
    return _need_of(row)


# -- introductions ---------------------------------------------------------------------------------------------


def _intro_query() -> Any:
    return select(
        DataIntroduction.id,
        DataIntroduction.need_id,
        DataNeed.company_id,
        DataIntroduction.dataset_id,
        DataIntroduction.status,
        DataIntroduction.created_at,
        DataIntroduction.updated_at,
    ).join(DataNeed, DataNeed.id == DataIntroduction.need_id)


def _get_intro(conn: Connection, intro_id: int) -> IntroRow:
    row = conn.execute(_intro_query().where(DataIntroduction.id == intro_id)).first()
    if row is None:
        raise NotFoundError("introduction", str(intro_id), hint="see `quotad data intro list`")
    return IntroRow(*row)


def propose_intro(conn: Connection, need_id: int, dataset_id: str, *, actor: str, note: str, now: int) -> IntroRow:
    """A new introduction in status ``proposed``; a pairing already on record is refused with its status."""
    get_need(conn, need_id)
    get_dataset(conn, dataset_id)
    existing = conn.execute(
        select(DataIntroduction.id, DataIntroduction.status).where(
            DataIntroduction.need_id == need_id, DataIntroduction.dataset_id == dataset_id
        )
    ).first()
    if existing is not None:
        raise UsageError(
            f"need {need_id} and dataset {dataset_id!r} are already introduction {existing[0]} ({existing[1]})"
        )
    result = conn.execute(
        insert(DataIntroduction).values(
            need_id=need_id, dataset_id=dataset_id, status="proposed", created_at=now, updated_at=now
        )
    )
    intro_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    record_proposed(conn, _INTRO_TABLES, intro_id, actor=actor, note=note, now=now)
    return _get_intro(conn, intro_id)


def set_intro_status(conn: Connection, intro_id: int, status: str, *, actor: str, note: str, now: int) -> IntroRow:
    """Move an introduction to ``status`` if ``TRANSITIONS`` allows it, recording who, when and why."""
    if status not in INTRO_STATUSES:
        raise UsageError(f"status {status!r}: expected one of {', '.join(INTRO_STATUSES)}")
    intro = _get_intro(conn, intro_id)
    move_intro(conn, _INTRO_TABLES, intro_id, intro.status, status, actor=actor, note=note, now=now)
    return _get_intro(conn, intro_id)


def list_intros(conn: Connection, *, company_id: str | None = None, status: str | None = None) -> list[IntroRow]:
    query = _intro_query().order_by(DataIntroduction.id)
    if company_id is not None:
        query = query.where(DataNeed.company_id == company_id)
    if status is not None:
        query = query.where(DataIntroduction.status == status)
    return [IntroRow(*r) for r in conn.execute(query)]


def intro_events(conn: Connection, intro_ids: Sequence[int] | None = None) -> list[IntroEvent]:
    return _intro_events(conn, _INTRO_TABLES, intro_ids)
