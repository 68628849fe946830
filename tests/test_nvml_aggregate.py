"""Running totals: exact integer seconds, hour splits, busy-then-idle, energy, gaps, O(GPUs) memory, resume."""

from __future__ import annotations

import tracemalloc

from quotad.collectors.nvml.aggregate import HOUR, Aggregator, TrailingWindow, split
from quotad.collectors.nvml.attribution import Holder, Ownership
from quotad.collectors.nvml.device import GpuReading
from tests.test_nvml_support import MIB, T0

OWNED = Ownership(0, (Holder(42, "acme", "alice", True, False, 0, None),))


def _reading(
    t: float,
    util: int | None,
    *,
    mem: int = 0,
    power: int = 100_000,
    energy: int | None = None,
    index: int = 0,
    **kw: object,
) -> GpuReading:
    return GpuReading(
        index=index,
        uuid=f"GPU-{index}",
        at=t,
        util_gpu=util,
        mem_used=mem,
        mem_total=80 * 1024 * MIB,
        power_mw=power,
        energy_mj=energy,
        **kw,
    )  # type: ignore[arg-type]


def _agg(**kw: object) -> Aggregator:
    return Aggregator(cluster="c1", node="gpu001", **kw)  # type: ignore[arg-type]


def test_split_cuts_at_boundaries() -> None:
    assert split(3590, 3610, 3600) == [(0, 10), (3600, 10)]
    assert split(0, 3600, 3600) == [(0, 3600)]
    assert split(5, 5, 60) == []


def test_busy_then_idle_is_visible_in_streak_and_trailing_window() -> None:
    agg = _agg(recent_window_s=1800, memory_held_bytes=1024 * MIB)
    t = T0
    for _ in range(361):  # 0..3600 s: busy for the first 40 minutes, then idle with 60 GB still held
        util = 95 if t - T0 <= 2400 else 0
        agg.add(_reading(t, util, mem=60000 * MIB), OWNED)
        t += 10
    (row,) = [r for r in agg.rows(updated_at=t) if r.hour == T0]
    assert row.observed_seconds == 3600 and row.samples == 361  # the one at 11:00:00 closes 10:00-11:00
    assert row.idle_seconds == 1200 and row.idle_mem_held_seconds == 1200
    assert row.util_pct_seconds == 95 * 2400 and row.util_max == 95
    assert row.idle_since == T0 + 2400  # the streak began where the last busy interval ended
    assert row.allocated and not row.job_process_seen
    # whole-hour mean looks healthy (63 %), the trailing 30 minutes do not
    assert row.util_pct_seconds / row.observed_seconds > 60
    assert row.recent_idle_seconds == 1200 and row.recent_seconds == 1800
    view = agg.track_view(0)
    assert view.idle_since == T0 + 2400 and view.job_id == 42


def test_hour_boundary_splits_seconds_exactly_and_energy_with_them() -> None:
    agg = _agg()
    start = T0 + HOUR - 25
    for k in range(6):  # samples every 10 s from 25 s before the hour to 25 s after
        agg.add(_reading(start + 10 * k, 50, energy=1_000_000 + 10_000 * k), OWNED)
    rows = {r.hour: r for r in agg.rows(updated_at=0)}
    before, after = rows[T0], rows[T0 + HOUR]
    assert before.observed_seconds + after.observed_seconds == 50
    assert (before.observed_seconds, after.observed_seconds) == (25, 25)
    assert before.energy_mj + after.energy_mj == 50_000  # 5 intervals × 10,000 mJ from the counter
    assert before.last_sample == T0 + HOUR  # the seconds up to the boundary
    assert agg.forget_closed(delivered=agg.rows(updated_at=0)) == 1
    assert [r.hour for r in agg.rows(updated_at=0)] == [T0 + HOUR]


def test_energy_falls_back_to_power_and_survives_counter_reset() -> None:
    agg = _agg()
    agg.add(_reading(T0, 10, power=300_000, energy=None), OWNED)
    agg.add(_reading(T0 + 10, 10, power=300_000, energy=None), OWNED)  # 300 W × 10 s
    agg.add(_reading(T0 + 20, 10, power=300_000, energy=5_000_000), OWNED)  # counter appears: no previous -> power
    agg.add(_reading(T0 + 30, 10, power=300_000, energy=100), OWNED)  # counter reset (driver reload) -> power
    agg.add(_reading(T0 + 40, 10, power=300_000, energy=2_600), OWNED)  # counter delta
    (row,) = agg.rows(updated_at=0)
    assert row.energy_mj == 3 * 3_000_000 + 2_500


def test_gaps_unknown_utilisation_and_lost_gpus_are_not_counted() -> None:
    agg = _agg(max_gap_s=60)
    agg.add(_reading(T0, 0), OWNED)
    agg.add(_reading(T0 + 10, 0), OWNED)
    agg.add(_reading(T0 + 500, 0), OWNED)  # the agent was stopped for 490 s: not guessed
    agg.add(_reading(T0 + 510, None), OWNED)  # utilisation timed out: interval unknown
    agg.add(GpuReading(index=0, uuid="GPU-0", at=T0 + 520, lost=True), OWNED)
    agg.add(_reading(T0 + 530, 0), OWNED)  # first reading after the loss starts afresh
    agg.add(_reading(T0 + 540, 0), OWNED)
    (row,) = agg.rows(updated_at=0)
    assert row.observed_seconds == row.idle_seconds == 20
    assert row.samples == 6  # lost readings are not samples


def test_holder_change_restarts_streak_and_window_and_unowned_gpus_make_no_rows() -> None:
    agg = _agg()
    other = Ownership(0, (Holder(43, "fuji", "bob", True, True, 0, None),))
    agg.add(_reading(T0, 0), OWNED)
    agg.add(_reading(T0 + 10, 0), OWNED)
    agg.add(_reading(T0 + 20, 0), other)
    agg.add(_reading(T0 + 30, 0), Ownership(0))
    rows = {r.job_id: r for r in agg.rows(updated_at=0)}
    assert set(rows) == {42, 43}
    assert rows[42].idle_since == T0 and rows[43].idle_since == T0 + 10
    assert rows[43].observed_seconds == 10 and rows[43].recent_seconds == 10


def test_memory_is_bounded_by_gpus_not_samples() -> None:
    agg = _agg()
    owners = [Ownership(i, (Holder(100 + i, "acme", "alice", True, True, 0, None),)) for i in range(8)]

    def run(seconds: int, start: int) -> None:
        for t in range(start, start + seconds, 1):
            for i in range(8):
                agg.add(_reading(t, t % 100, index=i, energy=t * 1000), owners[i])

    run(600, T0)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    run(3000, T0 + 600)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert agg.bucket_count == 8
    assert grown < 64 * 1024  # 24,000 more readings, no more memory to speak of


def test_trailing_window_drops_old_minutes() -> None:
    window = TrailingWindow(3)
    for minute in range(5):
        window.add(T0 + 60 * minute, 60, minute >= 3, 10)
    assert window.totals(T0 + 4 * 60 + 30) == (180, 120, 1800)


def test_seed_resumes_totals_after_a_restart() -> None:
    first = _agg()
    for k in range(31):
        first.add(_reading(T0 + 10 * k, 0), OWNED)
    saved = first.rows(updated_at=T0 + 300)
    resumed = _agg()
    assert resumed.seed(saved) == 1
    resumed.add(_reading(T0 + 400, 0), OWNED)  # first reading after restart: no interval
    resumed.add(_reading(T0 + 410, 0), OWNED)
    (row,) = resumed.rows(updated_at=0)
    assert row.observed_seconds == 310 and row.samples == 33 and row.idle_since == T0
