"""Committee figures on small cases computed by hand (the arithmetic is in each test's comments)."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.plugins.api import LedgerView
from quotad.plugins.review.aggregate import CriterionWeight, ScoreInput, aggregate
from quotad.plugins.review.committee import call_aggregation
from quotad.units import GpuCatalog
from tests.review_support import assign, give_scores, seed

RUBRIC = [CriterionWeight("a", 3.0), CriterionWeight("b", 1.0)]  # normalised weights 0.75 and 0.25


def s(reviewer: str, proposal: int, criterion: str, score: float) -> ScoreInput:
    return ScoreInput(reviewer, proposal, criterion, score)


def _case() -> list[ScoreInput]:
    return [
        # r1: P1 a5 b1 -> total 0.75*5 + 0.25*1 = 4.0; P2 a3 b3 -> 3.0
        s("r1", 1, "a", 5), s("r1", 1, "b", 1), s("r1", 2, "a", 3), s("r1", 2, "b", 3),
        # r2: P1 a1 b5 -> 2.0; P2 a3 b5 -> 3.5
        s("r2", 1, "a", 1), s("r2", 1, "b", 5), s("r2", 2, "a", 3), s("r2", 2, "b", 5),
        # r3: P1 a4 b4 -> 4.0 (one proposal only: no z-score)
        s("r3", 1, "a", 4), s("r3", 1, "b", 4),
        # r4: P2 a1 only (partial: counts in the criterion mean, has no total)
        s("r4", 2, "a", 1),
    ]  # fmt: skip


def test_means_weighted_mean_and_rank() -> None:
    result = aggregate(RUBRIC, [1, 2, 3], _case(), threshold=0.5)
    p1, p2, p3 = result.of(1), result.of(2), result.of(3)
    # P1: a (5+1+4)/3 = 10/3, b (1+5+4)/3 = 10/3 -> weighted 10/3
    assert p1.criterion_means == pytest.approx({"a": 10 / 3, "b": 10 / 3})
    assert p1.weighted_mean == pytest.approx(10 / 3)
    # P2: a (3+3+1)/3 = 7/3, b (3+5)/2 = 4 -> 0.75*7/3 + 0.25*4 = 2.75
    assert p2.criterion_means == pytest.approx({"a": 7 / 3, "b": 4.0})
    assert p2.weighted_mean == pytest.approx(2.75)
    assert p2.reviewers == 3 and set(p2.totals) == {"r1", "r2"}
    # P3 has no scores: no figures, unranked, last
    assert p3.weighted_mean is None and p3.rank is None and p3.spread is None
    assert [p.proposal_id for p in result.proposals] == [1, 2, 3]
    assert (p1.rank, p2.rank) == (1, 2)


def test_spread_is_population_sd_and_flags_disagreement() -> None:
    result = aggregate(RUBRIC, [1, 2], _case(), threshold=0.5)
    # P1 totals 4, 2, 4: mean 10/3, population variance ((2/3)^2 * 2 + (4/3)^2) / 3 = 8/9
    assert result.of(1).spread == pytest.approx(math.sqrt(8 / 9))
    # P2 totals 3.0, 3.5: population SD 0.25 (the sample SD would be 0.354)
    assert result.of(2).spread == pytest.approx(0.25)
    assert result.of(1).flagged and not result.of(2).flagged


def test_threshold_is_exclusive_and_one_total_has_no_spread() -> None:
    scores = [s("r1", 1, "a", 5), s("r1", 1, "b", 1), s("r2", 1, "a", 1), s("r2", 1, "b", 5), s("r1", 2, "a", 5)]
    scores.append(s("r1", 2, "b", 5))
    result = aggregate(RUBRIC, [1, 2], scores, threshold=1.0)
    assert result.of(1).spread == pytest.approx(1.0)  # totals 4 and 2
    assert not result.of(1).flagged  # 1.0 is not above 1.0
    assert aggregate(RUBRIC, [1, 2], scores, threshold=0.99).of(1).flagged
    assert result.of(2).spread is None and not result.of(2).flagged


def test_per_reviewer_z_scores() -> None:
    result = aggregate(RUBRIC, [1, 2], _case(), threshold=0.5)
    # r1 totals 4 and 3: mean 3.5, population SD 0.5 -> z +1 and -1
    assert result.z_scores[("r1", 1)] == pytest.approx(1.0)
    assert result.z_scores[("r1", 2)] == pytest.approx(-1.0)
    # r2 totals 2 and 3.5: mean 2.75, SD 0.75 -> -1 and +1
    assert result.z_scores[("r2", 1)] == pytest.approx(-1.0)
    assert result.z_scores[("r2", 2)] == pytest.approx(1.0)
    # r3 has one total: undefined; r4 none at all
    assert result.z_scores[("r3", 1)] is None
    assert ("r4", 2) not in result.z_scores
    assert result.of(1).mean_z == pytest.approx(0.0)


def test_z_scores_discount_a_lenient_reviewer() -> None:
    # r1 gives everything high, r2 low; both rank P1 over P2, so P1's mean z is +1 and P2's -1.
    scores = [
        s("r1", 1, "a", 5), s("r1", 1, "b", 5), s("r1", 2, "a", 4), s("r1", 2, "b", 4),
        s("r2", 1, "a", 2), s("r2", 1, "b", 2), s("r2", 2, "a", 1), s("r2", 2, "b", 1),
    ]  # fmt: skip
    result = aggregate(RUBRIC, [1, 2], scores, threshold=10)
    assert result.of(1).mean_z == pytest.approx(1.0)
    assert result.of(2).mean_z == pytest.approx(-1.0)
    # a reviewer who gives every proposal the same total has no z-score (SD 0)
    same = [s("r1", 1, "a", 3), s("r1", 1, "b", 3), s("r1", 2, "a", 3), s("r1", 2, "b", 3)]
    assert aggregate(RUBRIC, [1, 2], same, threshold=1).z_scores[("r1", 1)] is None


def test_unequal_weights_are_normalised() -> None:
    # weights 3 and 1 are the same rubric as 0.75 and 0.25
    scores = [s("r1", 1, "a", 4), s("r1", 1, "b", 2)]
    a = aggregate(RUBRIC, [1], scores, threshold=1).of(1).weighted_mean
    b = (
        aggregate([CriterionWeight("a", 0.75), CriterionWeight("b", 0.25)], [1], scores, threshold=1)
        .of(1)
        .weighted_mean
    )
    assert a == pytest.approx(3.5) and b == pytest.approx(3.5)  # 0.75*4 + 0.25*2


def test_figures_from_the_database(engine: Engine, settings: Settings) -> None:
    """The same arithmetic through stored scores, on SQLite and PostgreSQL (rubric: tech 3, impact 1)."""
    seeded = seed(engine, settings)
    kumo, sakura = seeded.proposals["kumo"], seeded.proposals["sakura"]
    assign(engine, settings, "sel", "alice", kumo, sakura)
    assign(engine, settings, "sel", "erin", kumo, sakura)
    give_scores(engine, settings, "sel", "alice", kumo, tech=5, impact=1)  # 4.0
    give_scores(engine, settings, "sel", "alice", sakura, tech=3, impact=3)  # 3.0
    give_scores(engine, settings, "sel", "erin", kumo, tech=1, impact=5)  # 2.0
    give_scores(engine, settings, "sel", "erin", sakura, tech=3, impact=5)  # 3.5
    with engine.connect() as conn:
        result = call_aggregation(conn, LedgerView(conn, GpuCatalog(settings.gpu_types)), "sel", threshold=0.5)
    assert result.of(kumo).weighted_mean == pytest.approx(3.0)
    assert result.of(sakura).weighted_mean == pytest.approx(3.25)
    assert result.of(kumo).spread == pytest.approx(1.0) and result.of(kumo).flagged
    assert result.of(sakura).spread == pytest.approx(0.25) and not result.of(sakura).flagged
    assert result.of(sakura).rank == 1 and result.of(kumo).rank == 2
    assert result.z_scores[("alice", kumo)] == pytest.approx(1.0)
    assert result.of(seeded.proposals["fuji"]).rank is None
