"""Governance output as ``quotad.render`` tables (table, csv, md, json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from quotad.plugins.governance.carry import CarryLine
from quotad.plugins.governance.checklist import Checklist, DiffEntry
from quotad.plugins.governance.coverage import CoverageRow
from quotad.plugins.governance.store import Assessment
from quotad.render import Cell, Table
from quotad.timeutil import format_day

__all__ = ["answers_table", "carry_table", "checklist_table", "checklists_table", "coverage_table", "diff_table"]


def checklists_table(checklists: Sequence[Checklist], stored: set[str]) -> Table:
    return Table(
        ["Version", "Title", "Guideline", "Guideline version", "Published", "Items", "Source", "Stored"],
        [
            [
                c.version,
                c.title.en,
                c.guideline.en,
                c.guideline_version,
                c.guideline_published,
                len(c.items),
                c.source,
                "yes" if c.version in stored else "no",
            ]
            for c in checklists
        ],
        title="Governance checklists",
        keys=["version", "title", "guideline", "guideline_version", "published", "items", "source", "stored"],
    )


def checklist_table(checklist: Checklist) -> Table:
    return Table(
        ["#", "Item", "Section", "Reference", "Text (ja)", "Text (en)"],
        [[i.position, i.key, i.section, i.reference, i.text.ja, i.text.en] for i in checklist.items],
        title=f"{checklist.title.en} (guideline {checklist.guideline.en} {checklist.guideline_version})",
        keys=["position", "item", "section", "reference", "text_ja", "text_en"],
        meta={"version": checklist.version, "guideline_version": checklist.guideline_version},
    )


def diff_table(old: Checklist, new: Checklist, entries: Sequence[DiffEntry]) -> Table:
    rows: list[Sequence[Cell]] = [
        [
            e.key,
            e.kind,
            e.section,
            ", ".join(e.fields),
            "yes" if e.answers_carry else "no",
            e.old.text.en if e.old else None,
            e.new.text.en if e.new else None,
        ]
        for e in entries
    ]
    return Table(
        ["Item", "Change", "Section", "Fields", "Answers carry", "Old (en)", "New (en)"],
        rows,
        title=f"Checklist {old.version} → {new.version}",
        keys=["item", "change", "section", "fields", "answers_carry", "old_en", "new_en"],
        meta={"from": old.version, "to": new.version},
    )


def coverage_table(checklist: Checklist, rows: Sequence[CoverageRow], names: Mapping[str, str]) -> Table:
    return Table(
        ["Company", "Name", "Section", "Answered", "Total", "Yes", "N/A", "In progress", "Yes share", "Signed off",
         "Signed-off share"],
        [
            [r.company_id, names.get(r.company_id, ""), r.section, r.answered, r.total, r.yes, r.na, r.in_progress,
             r.yes_share, r.signed_off, r.signed_off_share]
            for r in rows
        ],
        title=f"Governance coverage, checklist {checklist.version}",
        keys=["company", "name", "section", "answered", "total", "yes", "na", "in_progress", "yes_share",
              "signed_off", "signed_off_share"],
        meta={"version": checklist.version},
    )  # fmt: skip


def answers_table(checklist: Checklist, answers: Sequence[Assessment], tz: str, *, title: str) -> Table:
    sections = {i.key: i.section for i in checklist.items}
    return Table(
        ["Item", "Section", "Answer", "Evidence", "Comment", "By", "Answered", "Carried from", "Signed off by",
         "Signed off", "Superseded"],
        [
            [a.item_key, sections.get(a.item_key, ""), a.answer, a.evidence_url, a.comment, a.answered_by,
             format_day(a.answered_at, tz), a.carried_from, a.signed_off_by,
             format_day(a.signed_off_at, tz) if a.signed_off_at else None,
             format_day(a.superseded_at, tz) if a.superseded_at else None]
            for a in answers
        ],
        title=title,
        keys=["item", "section", "answer", "evidence", "comment", "answered_by", "answered_at", "carried_from",
              "signed_off_by", "signed_off_at", "superseded_at"],
        meta={"version": checklist.version},
    )  # fmt: skip


def carry_table(lines: Sequence[CarryLine], old: str, new: str) -> Table:
    return Table(
        ["Item", "Section", "Action", "Needs answer"],
        [[c.key, c.section, c.action, "yes" if c.needs_answer else "no"] for c in lines],
        title=f"Carry {old} → {new}",
        keys=["item", "section", "action", "needs_answer"],
        meta={"from": old, "to": new},
    )
