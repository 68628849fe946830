"""Reviewer sheets and the committee summary as Markdown, CSV and HTML, with Japanese and English labels.

Markdown and CSV go through ``quotad.render`` tables; HTML through Jinja2 templates in ``templates/`` with
autoescape and ``StrictUndefined``, so a proposal title or comment cannot inject markup and a template asking
for a missing value fails instead of printing nothing. The CSV reviewer sheet has one row per proposal and
criterion, the shape a reviewer fills in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from jinja2 import Environment
from markupsafe import Markup

from quotad.plugins.review.aggregate import ProposalFigures
from quotad.plugins.review.committee import ReviewerSheet, Summary
from quotad.plugins.review.store import RequestSpec
from quotad.plugins.review.templating import environment
from quotad.render import Cell, Table, render

__all__ = ["LABELS", "SPREAD_NOTE", "SheetFormat", "reviewer_sheet_text", "summary_table", "summary_text"]

SheetFormat = Literal["md", "csv", "html"]

#: Bilingual labels, Japanese first.
LABELS: dict[str, tuple[str, str]] = {
    "sheet": ("審査シート", "Review sheet"),
    "summary": ("審査委員会サマリー", "Committee summary"),
    "reviewer": ("審査員", "Reviewer"),
    "proposal": ("提案", "Proposal"),
    "company": ("企業", "Company"),
    "title": ("題名", "Title"),
    "criterion": ("評価項目", "Criterion"),
    "weight": ("重み", "Weight"),
    "scale": ("尺度", "Scale"),
    "score": ("評点", "Score"),
    "comment": ("コメント", "Comment"),
    "comment_required": ("コメント必須", "Comment required"),
    "requested": ("申請計算資源", "Requested compute"),
    "rank": ("順位", "Rank"),
    "weighted_mean": ("加重平均", "Weighted mean"),
    "spread": ("ばらつき(母標準偏差)", "Spread (population SD)"),
    "mean_z": ("平均zスコア", "Mean z-score"),
    "reviewers": ("審査員数", "Reviewers"),
    "flag": ("意見の相違", "Disagreement"),
    "decision": ("決定", "Decision"),
    "rationale": ("理由", "Rationale"),
    "attestation": ("利益相反・守秘の誓約", "Conflict-of-interest and confidentiality attestation"),
    "no_proposals": ("割り当てられた提案はありません。", "No proposals are assigned."),
    "yes": ("はい", "yes"),
    "no": ("いいえ", "no"),
}

SPREAD_NOTE = (
    "ばらつきは各審査員の加重合計の母標準偏差、zスコアは審査員ごとに標準化した値です。",
    "Spread is the population standard deviation of the reviewers' weighted totals; z-scores normalise each "
    "reviewer's totals over every proposal they scored in the call.",
)


def label(key: str) -> str:
    ja, en = LABELS[key]
    return f"{ja} / {en}"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _requests(requests: Sequence[RequestSpec]) -> str:
    return ", ".join(f"{r.cluster}: {r.display_amount:g} {r.display_unit}" for r in requests) or "—"


def _env() -> Environment:
    env = environment()
    env.globals["label"] = label
    env.globals["L"] = LABELS
    env.filters["requests"] = _requests
    env.filters["num"] = lambda v: "—" if v is None else f"{v:.3f}"
    return env


def _sheet_table(sheet: ReviewerSheet) -> Table:
    rows: list[Sequence[Cell]] = []
    for entry in sheet.entries:
        for c in sheet.criteria:
            score, comment = entry.scores.get(c.key, (None, ""))
            rows.append(
                [
                    sheet.call.id,
                    sheet.reviewer.id,
                    entry.proposal.id,
                    entry.proposal.company_id,
                    entry.proposal.title,
                    c.key,
                    c.title_ja,
                    c.title_en,
                    c.weight,
                    c.scale_min,
                    c.scale_max,
                    "yes" if c.comment_required else "no",
                    score,
                    comment,
                ]
            )
    return Table(
        [
            label("proposal"),
            label("company"),
            label("title"),
            label("criterion"),
            label("weight"),
            label("scale"),
            label("comment_required"),
            label("score"),
            label("comment"),
        ],
        rows,
        keys=[
            "call",
            "reviewer",
            "proposal",
            "company",
            "title",
            "criterion",
            "criterion_ja",
            "criterion_en",
            "weight",
            "scale_min",
            "scale_max",
            "comment_required",
            "score",
            "comment",
        ],
    )


def _sheet_md(sheet: ReviewerSheet) -> str:
    call, r = sheet.call, sheet.reviewer
    lines = [
        f"# {label('sheet')}: {call.title_ja} / {call.title_en}",
        "",
        f"- {label('reviewer')}: {r.name} ({r.id})",
        f"- {label('attestation')}: v{call.attestation_version}",
        "",
    ]
    if not sheet.entries:
        lines.append(" ".join(LABELS["no_proposals"]))
    for entry in sheet.entries:
        p = entry.proposal
        lines += [
            f"## {label('proposal')} {p.id}: {p.title}",
            "",
            f"- {label('company')}: {entry.company.ja} / {entry.company.en} ({p.company_id})",
            f"- {label('requested')}: {_requests(entry.requests)}",
            "",
        ]
        rows: list[Sequence[Cell]] = []
        for c in sheet.criteria:
            score, comment = entry.scores.get(c.key, (None, ""))
            rows.append(
                [
                    f"{c.title_ja} / {c.title_en} ({c.key})",
                    c.weight,
                    f"{c.scale_min}-{c.scale_max}",
                    LABELS["yes" if c.comment_required else "no"][1],
                    score if score is not None else "",
                    comment,
                ]
            )
        columns = [label(k) for k in ("criterion", "weight", "scale", "comment_required", "score", "comment")]
        lines += [render(Table(columns, rows), "md"), ""]
    return "\n".join(lines).rstrip("\n")


def reviewer_sheet_text(sheet: ReviewerSheet, fmt: SheetFormat) -> str:
    if fmt == "csv":
        table = _sheet_table(sheet)
        return render(Table(table.keys or table.columns, table.rows), "csv")
    if fmt == "html":
        return _env().get_template("sheet.html.j2").render(sheet=sheet)
    return _sheet_md(sheet)


def _decision_cells(summary: Summary, pid: int) -> tuple[str | None, str | None]:
    d = summary.decisions.get(pid)
    return (None, None) if d is None else (d.outcome, d.rationale)


def summary_table(summary: Summary) -> Table:
    """One row per proposal in rank order; JSON/CSV keys are snake_case."""
    rows: list[Sequence[Cell]] = []
    for f in summary.aggregation.proposals:
        p = summary.proposals[f.proposal_id]
        name = summary.companies.get(p.company_id)
        outcome, rationale = _decision_cells(summary, p.id)
        rows.append(
            [
                f.rank,
                p.id,
                p.company_id,
                f"{name.ja} / {name.en}" if name else p.company_id,
                p.title,
                *(_round(f.criterion_means.get(c.key)) for c in summary.criteria),
                _round(f.weighted_mean),
                _round(f.spread),
                _round(f.mean_z),
                f.reviewers,
                "yes" if f.flagged else "no",
                outcome,
                rationale,
            ]
        )
    columns = [
        label("rank"),
        label("proposal"),
        label("company") + " ID",
        label("company"),
        label("title"),
        *(f"{c.title_ja} / {c.title_en}" for c in summary.criteria),
        label("weighted_mean"),
        label("spread"),
        label("mean_z"),
        label("reviewers"),
        label("flag"),
        label("decision"),
        label("rationale"),
    ]
    keys = [
        "rank",
        "proposal",
        "company",
        "company_name",
        "title",
        *(f"mean_{c.key}" for c in summary.criteria),
        "weighted_mean",
        "spread",
        "mean_z",
        "reviewers",
        "disagreement",
        "decision",
        "rationale",
    ]
    meta = {"call": summary.call.id, "threshold": summary.aggregation.threshold, "spread": "population"}
    return Table(columns, rows, title=f"{summary.call.title_ja} / {summary.call.title_en}", keys=keys, meta=meta)


def _flagged(summary: Summary) -> list[ProposalFigures]:
    return [f for f in summary.aggregation.proposals if f.flagged]


def summary_text(summary: Summary, fmt: SheetFormat, *, pack: str = "") -> str:
    """The committee summary; ``pack`` (the end-of-term pack in the same format) is appended when given."""
    table = summary_table(summary)
    if fmt == "csv":
        body = render(Table(table.keys or table.columns, table.rows), "csv")
        return body + ("\n\n" + pack if pack else "")
    if fmt == "html":
        return (
            _env()
            .get_template("summary.html.j2")
            .render(summary=summary, table=table, flagged=_flagged(summary), note=SPREAD_NOTE, pack=Markup(pack))
        )
    call = summary.call
    lines = [
        f"# {label('summary')}: {call.title_ja} / {call.title_en}",
        "",
        f"- {call.id} ({call.kind}, {call.status})",
        f"- {SPREAD_NOTE[0]}",
        f"- {SPREAD_NOTE[1]}",
        f"- {label('flag')}: spread > {summary.aggregation.threshold:g}",
        "",
        render(Table(table.columns, table.rows), "md"),
    ]
    flagged = _flagged(summary)
    if flagged:
        lines += ["", f"## {label('flag')}", ""]
        for f in flagged:
            totals = ", ".join(f"{r}: {t:.3f}" for r, t in f.totals.items())
            lines.append(f"- {label('proposal')} {f.proposal_id}: {label('spread')} {f.spread:.3f} ({totals})")
    if pack:
        lines += ["", pack]
    return "\n".join(lines)
