"""CSV import of providers, contracts, reservations and maintenance windows, with row-level errors.

Why row by row: a provider's spreadsheet has a typo in one row of forty; the other 39 must land and the one must
be named (its line number in the file and the reason), and the command exits 1. Each row is written in a
savepoint, so a row the database refuses does not abort the rows around it (PostgreSQL would otherwise fail
the whole transaction). Writes are "create or replace" by natural key, so importing a corrected file again is
harmless. A header with a missing or an unknown column refuses the whole file, naming the columns.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from quotad.errors import QuotadError, UsageError
from quotad.pool import fields
from quotad.pool.maintenance import MaintenanceSpec, set_window
from quotad.pool.registry import (
    ContractSpec,
    ProviderSpec,
    ReservationSpec,
    set_contract,
    set_provider,
    set_reservation,
)

__all__ = ["COLUMNS", "CsvKind", "ImportReport", "RowError", "import_csv"]

CsvKind = Literal["providers", "contracts", "reservations", "maintenance"]

#: (required, optional) columns of each kind of file.
COLUMNS: dict[CsvKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "providers": (("id", "name_ja", "name_en", "kind"), ()),
    "contracts": (("provider", "reference", "start", "end"), ("kind", "contact", "terms_note")),
    "reservations": (
        ("provider", "cluster", "node_type", "gpu_type", "gpus_per_node", "nodes", "start", "end"),
        ("price", "currency", "contract", "note"),
    ),
    "maintenance": (("cluster", "start", "end"), ("node_type", "nodes", "reference", "reason")),
}


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str
    text: str


@dataclass
class ImportReport:
    kind: CsvKind
    source: str
    rows: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    tz: str
    known_gpu_types: Sequence[str]
    now: int


def _provider(conn: Connection, row: Mapping[str, str], ctx: _Context) -> None:
    spec = ProviderSpec(row["id"].strip(), row["name_ja"], row["name_en"], fields.provider_kind(row["kind"]))
    set_provider(conn, spec, now=ctx.now)


def _contract(conn: Connection, row: Mapping[str, str], ctx: _Context) -> None:
    spec = ContractSpec(
        provider_id=row["provider"].strip(),
        reference=row["reference"].strip(),
        kind=fields.contract_kind(row.get("kind", "")),
        period_start=fields.day(row["start"], ctx.tz, field="start"),
        period_end=fields.day(row["end"], ctx.tz, field="end", end=True),
        contact=row.get("contact", "").strip(),
        terms_note=row.get("terms_note", "").strip(),
    )
    set_contract(conn, spec)


def _reservation(conn: Connection, row: Mapping[str, str], ctx: _Context) -> None:
    spec = ReservationSpec(
        provider_id=row["provider"].strip(),
        cluster=row["cluster"].strip(),
        node_type=row["node_type"].strip(),
        gpu_type=row["gpu_type"].strip().lower(),
        gpus_per_node=fields.positive_int(row["gpus_per_node"], field="gpus_per_node"),
        node_count=fields.positive_int(row["nodes"], field="nodes"),
        period_start=fields.day(row["start"], ctx.tz, field="start"),
        period_end=fields.day(row["end"], ctx.tz, field="end", end=True),
        price=fields.price(row.get("price", ""), row.get("currency", "")),
        contract_reference=row.get("contract", "").strip() or None,
        note=row.get("note", "").strip(),
    )
    set_reservation(conn, spec, known_gpu_types=ctx.known_gpu_types)


def _maintenance(conn: Connection, row: Mapping[str, str], ctx: _Context) -> None:
    node_count, node_names = fields.node_spec(row.get("nodes", ""), field="nodes")
    spec = MaintenanceSpec(
        cluster=row["cluster"].strip(),
        start=fields.moment(row["start"], ctx.tz, field="start"),
        end=fields.moment(row["end"], ctx.tz, field="end"),
        source="csv",
        reference=row.get("reference", "").strip(),
        node_type=row.get("node_type", "").strip(),
        node_count=node_count,
        nodes=node_names,
        reason=row.get("reason", "").strip(),
    )
    set_window(conn, spec, now=ctx.now)


_WRITERS: dict[CsvKind, Callable[[Connection, Mapping[str, str], _Context], None]] = {
    "providers": _provider,
    "contracts": _contract,
    "reservations": _reservation,
    "maintenance": _maintenance,
}


def _check_header(kind: CsvKind, header: Sequence[str] | None, source: str) -> None:
    required, optional = COLUMNS[kind]
    if header is None:
        raise UsageError(f"{source}: empty file; expected a header line: {','.join(required + optional)}")
    names = [h.strip() for h in header]
    missing = [c for c in required if c not in names]
    unknown = [c for c in names if c not in required + optional]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise UsageError(
            f"{source}: {'; '.join(parts)}; expected {','.join(required)} and optionally {','.join(optional) or '-'}"
        )


def import_csv(
    conn: Connection,
    kind: CsvKind,
    lines: Iterable[str],
    *,
    source: str,
    tz: str,
    known_gpu_types: Sequence[str],
    now: int,
) -> ImportReport:
    """Write every good row of a CSV file in the caller's transaction; bad rows become ``RowError``s."""
    reader = csv.DictReader(lines, skipinitialspace=True)
    _check_header(kind, reader.fieldnames, source)
    writer = _WRITERS[kind]
    ctx = _Context(tz, known_gpu_types, now)
    report = ImportReport(kind, source)
    for row in reader:
        line = reader.line_num
        values = {(k or "").strip(): (v or "") for k, v in row.items() if k is not None}
        if not any(v.strip() for v in values.values()):
            continue
        report.rows += 1
        text = ",".join(values.get(k, "") for k in (reader.fieldnames or ()))
        if None in row:
            report.errors.append(RowError(line, "more fields than the header has columns", text))
            continue
        savepoint = conn.begin_nested()
        try:
            writer(conn, values, ctx)
        except (ValueError, QuotadError, IntegrityError) as exc:
            savepoint.rollback()
            report.errors.append(RowError(line, str(exc), text))
            continue
        savepoint.commit()
        report.written += 1
    return report
