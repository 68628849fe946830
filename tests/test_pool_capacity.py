"""Capacity arithmetic without a database: reserved and maintenance GPU-seconds per hour, computed by hand."""

from __future__ import annotations

from quotad.pool.capacity import CellKey, HourCapacity, Outage, hourly_capacity, merged, reserved_gpus_at, union_seconds
from quotad.pool.money import Money, parse_price
from quotad.pool.registry import ReservationInfo
from tests.helpers import utc

H = 3600
APR29, MAY2 = utc("2026-04-29T00:00:00"), utc("2026-05-02T00:00:00")


def block(
    block_id: int = 1,
    *,
    cluster: str = "c1",
    node_type: str = "H100x8",
    nodes: int = 2,
    gpus: int = 8,
    start: int = APR29,
    end: int = MAY2,
    price: Money | None = None,
    gpu_type: str = "h100",
) -> ReservationInfo:
    return ReservationInfo(block_id, "abci", None, cluster, node_type, gpu_type, gpus, nodes, start, end, price, "")


def totals(grid: dict[CellKey, dict[int, HourCapacity]]) -> dict[CellKey, tuple[int, int]]:
    return {k: (sum(h.reserved for h in v.values()), sum(h.maintenance for h in v.values())) for k, v in grid.items()}


def test_reserved_gpu_seconds_are_nodes_times_gpus_times_time() -> None:
    grid = hourly_capacity([block()], [], APR29, MAY2)
    assert totals(grid) == {("c1", "h100"): (72 * H * 16, 0)}
    assert len(grid[("c1", "h100")]) == 72
    # A window that starts before the block and ends inside it counts only the overlap.
    part = hourly_capacity([block(start=utc("2026-04-30T12:30:00"))], [], APR29, utc("2026-04-30T14:00:00"))
    assert totals(part) == {("c1", "h100"): (90 * 60 * 16, 0)}
    assert part[("c1", "h100")][utc("2026-04-30T12:00:00")].reserved == 30 * 60 * 16


def test_whole_cluster_maintenance_across_a_month_boundary_is_split_by_hour() -> None:
    window = Outage("c1", utc("2026-04-30T22:00:00"), utc("2026-05-01T02:00:00"))
    april = hourly_capacity([block()], [window], APR29, utc("2026-05-01T00:00:00"))
    may = hourly_capacity([block()], [window], utc("2026-05-01T00:00:00"), MAY2)
    assert totals(april)[("c1", "h100")] == (48 * H * 16, 2 * H * 16)
    assert totals(may)[("c1", "h100")] == (24 * H * 16, 2 * H * 16)
    hour = april[("c1", "h100")][utc("2026-04-30T23:00:00")]
    assert (hour.reserved, hour.maintenance, hour.available) == (H * 16, H * 16, 0)


def test_partial_maintenance_takes_its_nodes_in_block_order_and_duplicates_count_once() -> None:
    a, b = block(1, nodes=2), block(2, node_type="H100x8b", nodes=3)
    lo, hi = utc("2026-04-30T00:00:00"), utc("2026-04-30T01:00:00")
    # Three nodes: both of block 1, one of block 2.
    grid = hourly_capacity([a, b], [Outage("c1", lo, hi, node_count=3)], lo, hi)
    assert totals(grid)[("c1", "h100")] == (5 * 8 * H, 3 * 8 * H)
    # The same event entered twice (by hand and from Slurm) is not subtracted twice.
    twice = hourly_capacity([a, b], [Outage("c1", lo, hi, node_count=3), Outage("c1", lo, hi, node_count=3)], lo, hi)
    assert totals(twice) == totals(grid)
    # A window on one node type leaves the other alone; more nodes than reserved never goes below zero.
    typed = hourly_capacity([a, b], [Outage("c1", lo, hi, node_type="H100x8b", node_count=10)], lo, hi)
    assert totals(typed)[("c1", "h100")] == (5 * 8 * H, 3 * 8 * H)
    other = hourly_capacity([a, b], [Outage("c2", lo, hi)], lo, hi)
    assert totals(other)[("c1", "h100")] == (5 * 8 * H, 0)


def test_maintenance_outside_a_blocks_period_takes_nothing() -> None:
    early = block(end=utc("2026-04-30T00:00:00"))
    grid = hourly_capacity([early], [Outage("c1", utc("2026-04-29T23:00:00"), utc("2026-04-30T03:00:00"))], APR29, MAY2)
    assert totals(grid)[("c1", "h100")] == (24 * H * 16, 1 * H * 16)


def test_money_values_follow_the_priced_blocks() -> None:
    priced = block(1, price=parse_price("450", "JPY"))
    free = block(2, node_type="other", nodes=1)
    lo, hi = utc("2026-04-30T00:00:00"), utc("2026-04-30T01:00:00")
    hour = hourly_capacity([priced, free], [Outage("c1", lo, lo + 1800, node_type="H100x8")], lo, hi)[("c1", "h100")][
        lo
    ]
    assert hour.reserved_value == {"JPY": 16 * H * 450}
    assert hour.maintenance_value == {"JPY": 16 * 1800 * 450}
    assert hour.available_value() == {"JPY": 16 * 1800 * 450}
    assert (hour.unpriced_reserved, hour.unpriced_maintenance) == (8 * H, 0)


def test_union_and_now() -> None:
    assert merged([(5, 10), (0, 3), (2, 4), (10, 12)]) == [(0, 4), (5, 12)]
    assert union_seconds([(0, 10), (5, 20), (30, 40)], 8, 35) == 12 + 5
    at = utc("2026-04-30T23:30:00")
    assert reserved_gpus_at([block()], [Outage("c1", utc("2026-04-30T22:00:00"), MAY2, node_count=1)], at) == {
        ("c1", "h100"): (16, 8)
    }


def test_prices_are_exact_minor_units() -> None:
    assert parse_price("450", "jpy") == Money("JPY", 450)
    assert parse_price("2.50", "USD") == Money("USD", 250)
    assert str(Money("USD", 123456)) == "1,234.56 USD"
    for text, currency in (("1.5", "JPY"), ("-1", "USD"), ("abc", "USD"), ("1", "XXX")):
        try:
            parse_price(text, currency)
        except ValueError:
            continue
        raise AssertionError(f"{text} {currency} was accepted")
