"""The rule on public programme totals (``quotad.plugins.disclosure``), shared by the site and the survey report."""

from __future__ import annotations

from quotad.plugins.api import CompanyCompute
from quotad.plugins.disclosure import combined, disclosing, reveals_one, total_reveals

USED, NONE = CompanyCompute(3600, 5), CompanyCompute(0, 0)


def test_one_undisclosed_user_is_revealed_and_two_are_not() -> None:
    assert reveals_one({"a": USED, "b": USED, "c": USED}, frozenset({"a", "b"}))
    assert not reveals_one({"a": USED, "b": USED, "c": USED}, frozenset({"a"}))
    # A company that used nothing hides nobody: a and c used compute, a alone keeps it private.
    assert reveals_one({"a": USED, "b": NONE, "c": USED}, frozenset({"c"}))
    assert not reveals_one({"a": USED, "b": USED}, frozenset({"a", "b"}))  # the total is the published sum


def test_with_nobody_disclosing_a_total_is_withheld_only_for_a_lone_user() -> None:
    assert disclosing([], None) == frozenset()  # type: ignore[arg-type]
    assert reveals_one({"a": USED, "b": NONE}, frozenset())
    assert not reveals_one({"a": USED, "b": USED}, frozenset())


def test_disclosure_shares_are_united() -> None:
    shares = [("site", lambda _c: frozenset({"a"})), ("other", lambda _c: frozenset({"b"}))]
    assert disclosing(shares, None) == frozenset({"a", "b"})  # type: ignore[arg-type]


def test_a_total_beside_its_parts_is_withheld_when_the_withheld_parts_reveal_one_company() -> None:
    period = {"a": USED, "b": USED, "c": USED}  # a is disclosed; b and c keep theirs private
    # b alone in two withheld months: the period total less the months shown would be b's use of both.
    alone = [{"a": USED, "b": USED}, {"b": USED}]
    assert total_reveals(period, frozenset({"a"}), withheld_parts=alone)
    # b in one withheld month, c in another: their sum cannot be split.
    assert not total_reveals(period, frozenset({"a"}), withheld_parts=[{"b": USED}, {"c": USED}])
    assert not total_reveals(period, frozenset({"a"}))
    assert combined(alone) == {"a": USED, "b": CompanyCompute(7200, 10)}
