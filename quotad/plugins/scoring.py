"""The transparent, additive score every matching plugin prints term by term (data holders, partners).

A score is the sum of ``weight x value`` over named terms, each value in [0, 1] and each printed with its
weight, value, points and a detail, so a reader can check the arithmetic and an office can change a weight
and see the effect. Points are rounded to hundredths before summing, so the printed terms add up exactly to
the printed score; ties are broken by id, so the order is the same on every run and database. Each ranked
item says why it stands where it does: the term-by-term difference with its neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Ranked", "Term", "rank", "term", "term_text", "total"]

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Term:
    name: str
    weight: float
    value: float
    points: float
    detail: str


@dataclass(frozen=True)
class Ranked(Generic[ItemT]):
    item: ItemT
    item_id: str
    rank: int
    score: float
    terms: tuple[Term, ...]
    why: str


def term(name: str, weight: float, value: float, detail: str) -> Term:
    return Term(name, weight, round(value, 4), round(weight * value, 2), detail)


def total(terms: Sequence[Term]) -> float:
    return round(sum(t.points for t in terms), 2)


def term_text(t: Term) -> str:
    return f"{t.name} {t.weight:g}x{t.value:.2f}={t.points:.2f}"


def _why(ranked: Sequence[tuple[float, str, tuple[Term, ...]]], i: int, id_label: str) -> str:
    """Why position ``i`` is where it is: the term-by-term difference with the one just above it (for the first,
    with the one just below), largest first, so a reader sees what wins or loses the place."""
    score, _id, terms = ranked[i]
    if len(ranked) == 1:
        return "only candidate passing the hard filters"
    other_score, other_id, other_terms = ranked[i - 1] if i else ranked[1]
    diffs = [(round(t.points - o.points, 2), t.name) for t, o in zip(terms, other_terms, strict=True)]
    diffs = sorted((d for d in diffs if d[0]), key=lambda d: (-abs(d[0]), d[1]))
    detail = ", ".join(f"{name} {gap:+.2f}" for gap, name in diffs) or "same on every term"
    if score == other_score:
        place = "before" if i == 0 else "after"
        return f"tied with {other_id} at {score:.2f}, placed {place} it by {id_label} ({detail})"
    if i == 0:
        return f"{score - other_score:.2f} ahead of {other_id}: {detail}"
    return f"{other_score - score:.2f} behind {other_id}: {detail}"


def rank(scored: Sequence[tuple[str, ItemT, tuple[Term, ...]]], *, id_label: str = "id") -> tuple[Ranked[ItemT], ...]:
    """Items (id, item, terms) ranked by score, then id, each with its rank and why (ties name ``id_label``)."""
    ordered = sorted(
        ((total(terms), item_id, item, terms) for item_id, item, terms in scored), key=lambda s: (-s[0], s[1])
    )
    keyed = [(score, item_id, terms) for score, item_id, _item, terms in ordered]
    return tuple(
        Ranked(item, item_id, i + 1, score, terms, _why(keyed, i, id_label))
        for i, (score, item_id, item, terms) in enumerate(ordered)
    )
