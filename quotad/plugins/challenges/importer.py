"""``quotad challenges import FILE.csv``: many entries at once, with row-level errors.

The office keeps its interview notes in a spreadsheet; this reads its CSV export. Every row is validated in
full before anything is written; a bad row is reported (file, line, key, field, reason) and skipped, the good
rows land in one transaction, and the command exits 1 if any row failed. Rows are upserted by ``key``, so
importing the same file twice changes nothing, and a key twice in one file is an error on its second row.

CSV: UTF-8 (a BOM is accepted), a header row naming some of ``records.FIELDS`` (``key``, ``noted_on``,
``category`` and a description are required); empty optional cells take the same defaults as
``quotad challenges add``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from quotad.errors import UsageError
from quotad.plugins.challenges.records import FIELDS, ChallengeSpec, FieldProblem
from quotad.plugins.imports import ImportReport, RowError, read_text

__all__ = ["DEFAULTS", "import_csv", "spec_from_row"]

#: What an optional field is when a row (or ``add``) leaves it out.
DEFAULTS: Mapping[str, str] = {
    "company": "",
    "severity": "medium",
    "description_ja": "",
    "description_en": "",
    "source_kind": "other",
    "source_ref": "",
    "status": "open",
    "response": "",
    "visibility": "private",
}
_REQUIRED = ("key", "noted_on", "category")


def spec_from_row(values: Mapping[str, str]) -> ChallengeSpec:
    """A spec from field texts, defaults filled in (``records.check_spec`` judges it)."""
    v = {**DEFAULTS, **{k: (values.get(k) or "").strip() for k in FIELDS if (values.get(k) or "").strip()}}
    return ChallengeSpec(
        key=v.get("key", ""),
        company_id=v["company"] or None,
        noted_on=v.get("noted_on", ""),
        category=v.get("category", ""),
        severity=v["severity"],
        description_ja=v["description_ja"],
        description_en=v["description_en"],
        source_kind=v["source_kind"],
        source_ref=v["source_ref"],
        status=v["status"],
        response=v["response"],
        visibility=v["visibility"],
    )


def import_csv(
    path: Path,
    *,
    check: Callable[[ChallengeSpec], Sequence[FieldProblem]],
    save: Callable[[ChallengeSpec], str],
) -> ImportReport:
    """Validate every row with ``check``; ``save`` each good one (returns created/updated/unchanged).

    A file that cannot be read as a whole (not UTF-8, no header, unknown or missing columns) is a
    ``UsageError`` before any row is looked at.
    """
    text = read_text(path, hint="; export the sheet as CSV UTF-8")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in reader.fieldnames or ()]
    except csv.Error as exc:
        raise UsageError(f"{path}: line 1: not CSV: {exc}") from exc
    if not header:
        raise UsageError(f"{path}: empty file: expected a header row naming {', '.join(FIELDS)}")
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        raise UsageError(
            f"{path}: line 1: unknown column(s) {', '.join(map(repr, unknown))}; expected some of {', '.join(FIELDS)}"
        )
    missing = [f for f in _REQUIRED if f not in header]
    if missing:
        raise UsageError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    report = ImportReport(str(path))
    seen: dict[str, int] = {}
    good: list[ChallengeSpec] = []
    line = reader.line_num + 1
    try:
        for record in reader:
            extra = record.pop(None, None)
            if not any((v or "").strip() for v in record.values()) and not extra:
                line = reader.line_num + 1
                continue
            spec = spec_from_row(record)
            problems = list(check(spec))
            if extra:
                problems.insert(0, FieldProblem("row", f"{len(extra)} more field(s) than the header"))
            if spec.key in seen and not problems:
                problems.append(FieldProblem("key", f"duplicate of line {seen[spec.key]}"))
            if problems:
                report.errors += [RowError(str(path), f"line {line}", spec.key, p.field, p.message) for p in problems]
            else:
                seen[spec.key] = line
                good.append(spec)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise UsageError(f"{path}: line {reader.line_num}: not CSV: {exc}") from exc
    for spec in good:
        getattr(report, save(spec)).append(spec.key)
    return report
