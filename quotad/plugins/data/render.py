"""The data plugin's output: tables through ``quotad.render``; the match as a table or as nested JSON.

A match is printed one line per dataset and need: candidates with their rank, score, every term as
``name weight x value = points`` and the reason for their place; with ``--all`` also the excluded datasets and
the filter that excluded each. The JSON carries the same, with numbers as numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from quotad.plugins.data.match import Candidate, NeedMatch
from quotad.plugins.data.records import DatasetRecord, HolderRecord, format_price
from quotad.plugins.data.store import IntroRow, NeedRecord, StoredDataset
from quotad.plugins.scoring import term_text
from quotad.render import Cell, Table
from quotad.timeutil import format_day

__all__ = [
    "dataset_detail",
    "datasets_table",
    "holders_table",
    "intros_table",
    "match_json",
    "match_table",
    "needs_table",
]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _licence(ds: DatasetRecord) -> str:
    return ds.licence_spdx or ds.licence_name


def _uses(ds: DatasetRecord) -> str:
    uses = [u for u, ok in (("training", ds.allow_training), ("commercial", ds.allow_commercial)) if ok]
    if ds.allow_derivatives:
        uses.append("derivatives")
    return ", ".join(uses) or "none"


def holders_table(holders: Sequence[tuple[HolderRecord, str, int]]) -> Table:
    rows: list[Sequence[Cell]] = [
        [h.id, h.name_ja, h.name_en, h.contact_email, h.url, source, count] for h, source, count in holders
    ]
    return Table(
        ["Holder", "Name (ja)", "Name (en)", "Contact", "URL", "Source", "Datasets"],
        rows,
        title="Data holders",
        keys=["id", "name_ja", "name_en", "contact_email", "url", "source", "datasets"],
    )


def datasets_table(datasets: Sequence[StoredDataset]) -> Table:
    rows: list[Sequence[Cell]] = []
    for stored in datasets:
        ds = stored.record
        rows.append(
            [
                ds.id,
                ds.holder_id,
                ds.title_en or ds.title_ja,
                ",".join(ds.languages),
                ds.modality,
                ",".join(ds.domains),
                ds.size_tokens,
                _licence(ds),
                _uses(ds),
                ds.access_mode,
                format_price(ds.price),
                stored.source,
            ]
        )
    return Table(
        ["Dataset", "Holder", "Title", "Languages", "Modality", "Domains", "Tokens", "Licence", "Uses", "Access",
         "Price", "Source"],
        rows,
        title="Datasets",
        keys=["id", "holder", "title", "languages", "modality", "domains", "size_tokens", "licence", "uses",
              "access_mode", "price", "source"],
    )  # fmt: skip


def dataset_detail(stored: StoredDataset, tz: str) -> Table:
    ds = stored.record
    fields: list[tuple[str, Cell]] = [
        ("id", ds.id),
        ("holder", ds.holder_id),
        ("title_ja", ds.title_ja),
        ("title_en", ds.title_en),
        ("description_ja", ds.description_ja),
        ("description_en", ds.description_en),
        ("publisher", ds.publisher),
        ("contact_email", ds.contact_email),
        ("url", ds.url),
        ("domains", ",".join(ds.domains)),
        ("languages", ",".join(ds.languages)),
        ("modality", ds.modality),
        ("size_tokens", ds.size_tokens),
        ("size_bytes", ds.size_bytes),
        ("licence_spdx", ds.licence_spdx),
        ("licence_name", ds.licence_name),
        ("training", _yes(ds.allow_training)),
        ("commercial", _yes(ds.allow_commercial)),
        ("derivatives", _yes(ds.allow_derivatives)),
        ("access_mode", ds.access_mode),
        ("pii", ds.pii_status),
        ("copyright", ds.copyright_status),
        ("price", format_price(ds.price)),
        ("source", stored.source),
        ("updated", format_day(stored.updated_at, tz)),
    ]
    return Table(["Field", "Value"], [list(f) for f in fields], title=f"Dataset {ds.id}", keys=["field", "value"])


def needs_table(needs: Sequence[NeedRecord]) -> Table:
    rows: list[Sequence[Cell]] = [
        [
            n.id,
            n.company_id,
            n.priority,
            ",".join(n.domains),
            ",".join(n.languages),
            ",".join(n.modalities),
            n.min_tokens,
            ",".join(n.required_uses),
            ",".join(n.access_modes),
            n.note,
        ]
        for n in needs
    ]
    return Table(
        ["Need", "Company", "Priority", "Domains", "Languages", "Modalities", "Min tokens", "Requires", "Access",
         "Note"],
        rows,
        title="Data needs",
        keys=["id", "company", "priority", "domains", "languages", "modalities", "min_tokens", "required_uses",
              "access_modes", "note"],
    )  # fmt: skip


def match_table(matches: Sequence[NeedMatch], *, include_excluded: bool) -> Table:
    rows: list[Sequence[Cell]] = []
    for m in matches:
        for c in m.candidates:
            terms = "; ".join(term_text(t) for t in c.terms)
            rows.append([m.need.id, m.need.company_id, c.rank, c.dataset.id, c.score, terms, c.why])
        if include_excluded:
            for e in m.excluded:
                why = f"excluded by {e.filter}: {e.reason}"
                rows.append([m.need.id, m.need.company_id, None, e.dataset.id, None, "", why])
        if not m.candidates and not include_excluded:
            why = f"no dataset passes the hard filters ({len(m.excluded)} excluded; --all shows why)"
            rows.append([m.need.id, m.need.company_id, None, None, None, "", why])
    return Table(
        ["Need", "Company", "Rank", "Dataset", "Score", "Terms (weight x value = points)", "Why"],
        rows,
        title="Data matches",
        keys=["need", "company", "rank", "dataset", "score", "terms", "why"],
    )


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {
        "rank": c.rank,
        "dataset": c.dataset.id,
        "holder": c.dataset.holder_id,
        "score": c.score,
        "terms": [
            {"name": t.name, "weight": t.weight, "value": t.value, "points": t.points, "detail": t.detail}
            for t in c.terms
        ],
        "why": c.why,
    }


def match_json(matches: Sequence[NeedMatch], *, include_excluded: bool) -> str:
    out = []
    for m in matches:
        entry: dict[str, Any] = {
            "need": m.need.id,
            "company": m.need.company_id,
            "priority": m.need.priority,
            "candidates": [_candidate_json(c) for c in m.candidates],
            "excluded_count": len(m.excluded),
        }
        if include_excluded:
            entry["excluded"] = [{"dataset": e.dataset.id, "filter": e.filter, "reason": e.reason} for e in m.excluded]
        out.append(entry)
    return json.dumps(out, ensure_ascii=False, indent=2)


def intros_table(intros: Sequence[IntroRow], tz: str) -> Table:
    rows: list[Sequence[Cell]] = [
        [i.id, i.need_id, i.company_id, i.dataset_id, i.status, format_day(i.created_at, tz),
         format_day(i.updated_at, tz)]
        for i in intros
    ]  # fmt: skip
    return Table(
        ["Intro", "Need", "Company", "Dataset", "Status", "Proposed", "Updated"],
        rows,
        title="Introductions",
        keys=["id", "need", "company", "dataset", "status", "proposed", "updated"],
    )
