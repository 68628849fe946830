"""``governance import``: a company's answers from CSV (item,answer,evidence,comment), row by row.

Good rows land and bad rows are reported with their line and field, in one transaction: a file is never half
read because of a crash, and a fixed file imported again changes only what changed (an identical answer is
"unchanged" and keeps its sign-off). A file that cannot be read as CSV at all is refused whole.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import Connection

from quotad.errors import InputError, UsageError
from quotad.plugins.governance.checklist import Checklist
from quotad.plugins.governance.store import ANSWERS, Answer, record_answer

__all__ = ["ImportReport", "import_answers", "parse_answer"]

_ALIASES: dict[str, Answer] = {
    "yes": "yes",
    "no": "no",
    "na": "na",
    "n.a.": "na",
    "n/a": "na",
    "in_progress": "in_progress",
    "in progress": "in_progress",
    "in-progress": "in_progress",
}
_REQUIRED = ("item", "answer")
_KNOWN = ("item", "answer", "evidence", "comment")


def parse_answer(text: str) -> Answer:
    answer = _ALIASES.get(text.strip().lower())
    if answer is None:
        raise UsageError(f"answer {text!r}: expected one of {', '.join(ANSWERS)}")
    return answer


@dataclass
class ImportReport:
    counts: dict[str, int] = field(default_factory=lambda: {"answered": 0, "changed": 0, "unchanged": 0})
    errors: list[InputError] = field(default_factory=list)


def import_answers(
    conn: Connection, *, company_id: str, checklist: Checklist, content: bytes, source: str, by: str, now: int
) -> ImportReport:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _REQUIRED if c not in header]
    unknown = [h for h in header if h not in _KNOWN]
    if missing or unknown:
        problems = [f"missing column {c!r}" for c in missing] + [f"unknown column {h!r}" for h in unknown]
        raise UsageError(f"{source}:1: {'; '.join(problems)} (expected {','.join(_KNOWN)})")
    reader.fieldnames = header
    report = ImportReport()
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        raw = ",".join("" if v is None else str(v) for v in row.values())
        try:
            if None in row:
                raise UsageError(f"{len(header) + len(row[None])} fields, the header has {len(header)}")
            key = (row.get("item") or "").strip()
            if not key:
                raise UsageError("item: empty")
            if checklist.item(key) is None:
                raise UsageError(f"item: {key!r} is not in checklist {checklist.version}")
            if key in seen:
                raise UsageError(f"item: {key!r} already given on line {seen[key]}")
            try:
                answer = parse_answer(row.get("answer") or "")
            except UsageError as exc:
                raise UsageError(f"answer: {exc}") from None
            evidence = (row.get("evidence") or "").strip()
            seen[key] = line
            outcome = record_answer(
                conn,
                company_id=company_id,
                checklist=checklist,
                item_key=key,
                answer=answer,
                evidence_url=evidence,
                comment=(row.get("comment") or "").strip(),
                by=by,
                now=now,
            )
            report.counts[outcome] += 1
        except UsageError as exc:
            report.errors.append(InputError(str(exc), source=source, line_no=line, line=raw))
    return report
