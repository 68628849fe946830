"""Bulk import of datasets from CSV, JSON or CKAN package JSON, with row-level errors.

Transaction model: one transaction per file, one savepoint per row. A row that fails validation or its write
is reported (file, line or item, dataset id, field, reason) and rolled back alone; the good rows land. A
problem with the file as a whole (unreadable, not JSON, an unknown CSV column) refuses the file before any
row is written: that is a usage error, while failed rows make the command exit 1. Rows are upserted by id,
so importing the same file twice changes nothing; an id twice in one file is an error on its second row
(the first stays), never a silent overwrite.

CSV: UTF-8 (a BOM is accepted), a header row naming ``records.DATASET_FIELDS``; lists separated by ``;``.
JSON: a list of objects with the same keys (lists may be arrays, uses may be booleans), or ``{"datasets": [...]}``.
CKAN: see ``ckan``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from quotad.errors import QuotadError, UsageError
from quotad.plugins.data.ckan import ckan_packages, package_to_raw
from quotad.plugins.data.records import DATASET_FIELDS, FIELD_ALIASES, FieldProblem, dataset_from_raw
from quotad.plugins.data.store import upsert_dataset
from quotad.plugins.imports import ImportReport, RowError, read_text

__all__ = ["FORMATS", "ImportFormat", "ImportReport", "RawRow", "RowError", "import_rows", "read_rows"]

ImportFormat = Literal["csv", "json", "ckan"]
FORMATS: tuple[ImportFormat, ...] = ("csv", "json", "ckan")


@dataclass(frozen=True)
class RawRow:
    where: str  # "line 4", "item 2", "package 3"
    values: Mapping[str, Any]
    problems: tuple[FieldProblem, ...] = ()


def _csv_rows(path: Path, text: str) -> list[RawRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames
    if not header:
        raise UsageError(f"{path}: empty file: expected a header row")
    unknown = [h for h in header if FIELD_ALIASES.get(h.strip().lower(), h.strip().lower()) not in DATASET_FIELDS]
    if unknown:
        raise UsageError(
            f"{path}: line 1: unknown column(s) {', '.join(repr(u) for u in unknown)}; "
            f"expected some of {', '.join(DATASET_FIELDS)}"
        )
    rows = []
    start = reader.line_num + 1
    try:
        for record in reader:
            extra = record.pop(None, None)
            problems = (FieldProblem("row", f"{len(extra)} more field(s) than the header"),) if extra else ()
            if any((v or "").strip() for v in record.values()) or problems:
                rows.append(RawRow(f"line {start}", record, problems))
            start = reader.line_num + 1
    except csv.Error as exc:  # a field past the csv module's size limit: the rest of the file cannot be split
        raise UsageError(f"{path}: line {start}: cannot be read as CSV: {exc}") from exc
    return rows


def _json_payload(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply to be a dataset list") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's limit on int from text)
        raise UsageError(f"{path}: not usable JSON: {exc}") from exc


def _json_rows(path: Path, text: str) -> list[RawRow]:
    payload = _json_payload(path, text)
    if isinstance(payload, dict) and isinstance(payload.get("datasets"), list):
        payload = payload["datasets"]
    if not isinstance(payload, list):
        raise UsageError(f'{path}: expected a JSON list of datasets or {{"datasets": [...]}}')
    rows = []
    for i, item in enumerate(payload, 1):
        if isinstance(item, dict):
            rows.append(RawRow(f"item {i}", item))
        else:
            rows.append(RawRow(f"item {i}", {}, (FieldProblem("item", "expected a JSON object"),)))
    return rows


def _ckan_rows(path: Path, text: str) -> list[RawRow]:
    payload = _json_payload(path, text)
    if isinstance(payload, dict) and payload.get("success") is False:
        raise UsageError(f"{path}: a failed CKAN API answer: {payload.get('error')}")
    packages = ckan_packages(payload)
    if packages is None:
        raise UsageError(f"{path}: not CKAN package JSON: expected a package_show/package_search answer or a list")
    rows = []
    for i, pkg in enumerate(packages, 1):
        raw, problems = package_to_raw(pkg)
        rows.append(RawRow(f"package {i}", raw, tuple(problems)))
    return rows


def read_rows(path: Path, fmt: ImportFormat) -> list[RawRow]:
    """The file's rows, unvalidated; a ``UsageError`` when the file as a whole cannot be read as ``fmt``."""
    text = read_text(path)
    if fmt == "csv":
        return _csv_rows(path, text)
    if fmt == "json":
        return _json_rows(path, text)
    return _ckan_rows(path, text)


def _errors(source: str, row: RawRow, dataset_id: str, problems: Sequence[FieldProblem]) -> list[RowError]:
    return [RowError(source, row.where, dataset_id, p.field, p.message) for p in problems]


def import_rows(conn: Connection, rows: Sequence[RawRow], *, source: str, kind: str, now: int) -> ImportReport:
    """Validate and upsert each row in its own savepoint of the caller's transaction (see module docstring)."""
    report = ImportReport(source)
    seen: dict[str, str] = {}
    for row in rows:
        dataset_id = str(row.values.get("id") or "")
        if not row.values:  # not a record at all (a JSON string in the list): its shape is the only problem
            report.errors += _errors(source, row, dataset_id, row.problems or (FieldProblem("row", "empty"),))
            continue
        record, problems = dataset_from_raw(row.values)
        problems = [*row.problems, *problems]
        if problems or record is None:
            report.errors += _errors(source, row, dataset_id, problems)
            continue
        if record.id in seen:
            report.errors.append(RowError(source, row.where, record.id, "id", f"duplicate of {seen[record.id]}"))
            continue
        seen[record.id] = row.where
        savepoint = conn.begin_nested()
        try:
            outcome = upsert_dataset(conn, record, source=kind, now=now)
        except (QuotadError, SQLAlchemyError, OverflowError) as exc:
            savepoint.rollback()
            field_name = "holder" if isinstance(exc, QuotadError) else "row"
            message = (
                str(exc) if isinstance(exc, QuotadError) else f"database refused the row: {exc.__class__.__name__}"
            )
            report.errors.append(RowError(source, row.where, record.id, field_name, message))
            continue
        savepoint.commit()
        getattr(report, outcome).append(record.id)
    return report
