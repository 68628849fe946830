"""Hour-bucket arithmetic: the O(1)-per-segment accumulator agrees with the plain per-hour split."""

from __future__ import annotations

import random
from collections import defaultdict

from quotad.ledger.charge import HourlyDeltas, charged_seconds, contributions, hour_slices


def test_hour_slices_cover_the_interval_exactly() -> None:
    assert list(hour_slices(1800, 5400)) == [(0, 1800), (3600, 3600)]
    assert list(hour_slices(3600, 3600)) == [(3600, 3600)]
    assert list(hour_slices(3599, 2)) == [(0, 1), (3600, 1)]
    assert list(hour_slices(7200, 0)) == []


def test_charged_seconds() -> None:
    assert charged_seconds(100, 60, (("h100", 2), ("a100", 1))) == 180
    assert charged_seconds(None, 60, (("h100", 2),)) == 0
    assert charged_seconds(100, 0, (("h100", 2),)) == 0
    assert list(contributions(None, 10, (("h100", 1),))) == []


def test_hourly_deltas_match_the_plain_split_for_random_segments() -> None:
    rnd = random.Random(7)
    deltas = HourlyDeltas()
    expected: defaultdict[tuple[tuple[str, ...], int], int] = defaultdict(int)
    for _ in range(3000):
        prefix = (rnd.choice("ab"), rnd.choice(("h100", "h200")))
        start = rnd.randrange(0, 40 * 3600)
        elapsed = rnd.choice((0, 1, 59, 3600, rnd.randrange(1, 3 * 86400)))
        count = rnd.choice((0, 1, 2, 8))
        sign = rnd.choice((1, 1, -1))
        deltas.add(prefix, start, elapsed, count, sign)
        for _type, hour, seconds in contributions(start, elapsed, ((prefix[1], count),)):
            expected[(prefix, hour)] += sign * seconds
    got = {(prefix, hour): seconds for prefix, hour, seconds in deltas.items()}
    assert got == {k: v for k, v in expected.items() if v}


def test_adding_and_taking_back_the_same_segment_leaves_nothing() -> None:
    deltas = HourlyDeltas()
    deltas.add(("x",), 1234, 100_000, 8, 1)
    deltas.add(("x",), 1234, 100_000, 8, -1)
    assert list(deltas.items()) == []
    deltas.clear()
    assert not deltas
