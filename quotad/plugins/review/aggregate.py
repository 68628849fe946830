"""Committee figures from scores: pure functions, so every number can be checked by hand.

Definitions (the sheet prints the same ones):

- **Criterion mean**: the mean of every counted score on that criterion of the proposal.
- **Weighted mean**: the criterion means weighted by the rubric's weights normalised to sum 1
  (``sum(w_k * mean_k) / sum(w_k)``); None until every criterion has at least one score. All criteria of a call
  share one scale (``store.add_criterion``), so it is on that scale.
- **Reviewer total**: one reviewer's weighted score of one proposal, only when that reviewer scored every
  criterion (a partial set would be a different measure).
- **Spread**: the *population* standard deviation of the reviewer totals of a proposal (the panel that scored
  it is all there is, not a sample of one); None with fewer than two totals. A proposal is flagged for
  disagreement when its spread is above the threshold.
- **z-score**: a reviewer's total for a proposal minus that reviewer's mean total over every proposal they
  scored completely in the call, divided by the population standard deviation of those totals; None when the
  reviewer has fewer than two totals or gave all of them the same value. ``mean_z`` is the proposal's mean of
  its reviewers' z-scores, a ranking that discounts lenient and severe reviewers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev

__all__ = ["Aggregation", "CriterionWeight", "ProposalFigures", "ScoreInput", "aggregate"]


@dataclass(frozen=True)
class CriterionWeight:
    key: str
    weight: float


@dataclass(frozen=True)
class ScoreInput:
    reviewer_id: str
    proposal_id: int
    criterion: str
    score: float


@dataclass(frozen=True)
class ProposalFigures:
    proposal_id: int
    criterion_means: Mapping[str, float | None]
    weighted_mean: float | None
    totals: Mapping[str, float]
    spread: float | None
    mean_z: float | None
    flagged: bool
    reviewers: int
    rank: int | None


@dataclass(frozen=True)
class Aggregation:
    threshold: float
    proposals: tuple[ProposalFigures, ...]  # ranked: weighted mean high to low, unranked last
    z_scores: Mapping[tuple[str, int], float | None]

    def of(self, proposal_id: int) -> ProposalFigures:
        return next(p for p in self.proposals if p.proposal_id == proposal_id)


def _weighted(values: Mapping[str, float], weights: Sequence[CriterionWeight]) -> float | None:
    if not weights or any(w.key not in values for w in weights):
        return None
    total = sum(w.weight for w in weights)
    return sum(w.weight * values[w.key] for w in weights) / total


def aggregate(
    rubric: Sequence[CriterionWeight],
    proposal_ids: Sequence[int],
    scores: Sequence[ScoreInput],
    *,
    threshold: float,
) -> Aggregation:
    """Figures for every proposal in ``proposal_ids`` (those without scores too) from the counted scores."""
    keys = {w.key for w in rubric}
    by_pair: defaultdict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    by_criterion: defaultdict[tuple[int, str], list[float]] = defaultdict(list)
    for s in scores:
        if s.criterion not in keys:
            continue
        by_pair[(s.reviewer_id, s.proposal_id)][s.criterion] = s.score
        by_criterion[(s.proposal_id, s.criterion)].append(s.score)
    totals: dict[tuple[str, int], float] = {}
    for pair, values in by_pair.items():
        total = _weighted(values, rubric)
        if total is not None:
            totals[pair] = total
    per_reviewer: defaultdict[str, list[float]] = defaultdict(list)
    for (reviewer, _), total in totals.items():
        per_reviewer[reviewer].append(total)
    z_scores: dict[tuple[str, int], float | None] = {}
    for (reviewer, pid), total in totals.items():
        own = per_reviewer[reviewer]
        sd = pstdev(own) if len(own) >= 2 else 0.0
        z_scores[(reviewer, pid)] = (total - fmean(own)) / sd if sd > 0 else None
    figures = []
    for pid in proposal_ids:
        means: dict[str, float | None] = {}
        for w in rubric:
            given = by_criterion.get((pid, w.key), [])
            means[w.key] = fmean(given) if given else None
        present = {k: v for k, v in means.items() if v is not None}
        mine = {r: t for (r, p), t in totals.items() if p == pid}
        spread = pstdev(mine.values()) if len(mine) >= 2 else None
        zs = [z for (r, p), z in z_scores.items() if p == pid and z is not None]
        figures.append(
            ProposalFigures(
                pid,
                means,
                _weighted(present, rubric),
                dict(sorted(mine.items())),
                spread,
                fmean(zs) if zs else None,
                spread is not None and spread > threshold,
                len({r for (r, p) in by_pair if p == pid}),
                None,
            )
        )
    ranked = sorted(figures, key=lambda f: (f.weighted_mean is None, -(f.weighted_mean or 0.0), f.proposal_id))
    out = []
    rank = 0
    for f in ranked:
        if f.weighted_mean is not None:
            rank += 1
        out.append(
            ProposalFigures(
                f.proposal_id,
                f.criterion_means,
                f.weighted_mean,
                f.totals,
                f.spread,
                f.mean_z,
                f.flagged,
                f.reviewers,
                rank if f.weighted_mean is not None else None,
            )
        )
    return Aggregation(threshold, tuple(out), z_scores)
