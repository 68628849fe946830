"""The pool view and the grant check on a constructed ledger (SQLite and PostgreSQL), figures computed by hand.

The scene: 2 nodes × 8 H100 reserved on c1 from Apr 29 to May 1 (72 h) at ¥450 per GPU-hour; a whole-cluster
maintenance window Apr 30 22:00 – May 1 02:00 (across the month boundary); one 8-GPU job of acme from Apr 30
20:00 for 8 h, so it runs through the window (reported, still charged).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert

from quotad.amounts import NORMALISED
from quotad.config import Settings
from quotad.errors import UsageError
from quotad.ledger.ingest import load_records, sync_clusters
from quotad.ledger.models import POOL
from quotad.ledger.records import JobRecord
from quotad.ledger.registry import AccountRef, GrantSpec, add_company, set_grant
from quotad.ledger.telemetry_models import GpuUsageHourly
from quotad.pool.check import check_grants, check_windows, default_window
from quotad.pool.maintenance import (
    MaintenanceSpec,
    list_windows,
    maintenance_overlaps,
    maintenance_seconds,
    remove_window,
    set_window,
    sync_windows,
)
from quotad.pool.money import Money, parse_price
from quotad.pool.registry import ProviderSpec, ReservationSpec, set_provider, set_reservation
from quotad.pool.view import pool_gauges, pool_view
from quotad.units import TFLOP_PER_EFLOPS_HOUR, GpuCatalog
from tests.helpers import utc

H = 3600
CATALOG = GpuCatalog({"h100": 989, "h200": 989, "a100": 312})
TYPES = ["h100", "h200", "a100"]
APR29, MAY1, MAY2 = utc("2026-04-29T00:00:00"), utc("2026-05-01T00:00:00"), utc("2026-05-02T00:00:00")
MAINT = (utc("2026-04-30T22:00:00"), utc("2026-05-01T02:00:00"))
JOB_START = utc("2026-04-30T20:00:00")


def job(
    raw: int, start: int, elapsed: int, gpus: int, *, account: str = "acme", cluster: str = "c1", nodes: str | None = None
) -> JobRecord:
    gpu_type = "h100" if cluster == "c1" else "h200"
    return JobRecord(
        cluster, str(raw), raw, start - 60, account, "alice", "gpu", "COMPLETED", start, start + elapsed, elapsed,
        ((gpu_type, gpus),), nodes,
    )  # fmt: skip


@pytest.fixture
def pool(engine: Engine, settings: Settings) -> Iterator[Engine]:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(
            conn, company_id="acme", name_ja="アクメ", name_en="Acme", now=APR29, accounts=[AccountRef("c1", "acme")]
        )
        set_provider(conn, ProviderSpec("abci", "産総研", "AIST ABCI", "national_hpc"), now=APR29)
        set_reservation(
            conn,
            ReservationSpec("abci", "c1", "H100x8", "h100", 8, 2, APR29, MAY2, price=parse_price("450", "JPY")),
            known_gpu_types=TYPES,
        )
        set_window(conn, MaintenanceSpec("c1", *MAINT, reference="ABCI-2026-04", reason="power work"), now=APR29)
        load_records(conn, [job(1, JOB_START, 8 * H, 8)], source="test", kind="sacct", now=MAY2)
    yield engine


def test_period_figures_take_maintenance_out_and_keep_the_job_charged(pool: Engine) -> None:
    with pool.connect() as conn:
        view = pool_view(conn, CATALOG, start=APR29, end=MAY2, now=MAY2, tz="UTC")
    f = view.total.figures
    assert (f.reserved, f.maintenance, f.available) == (1152 * H, 64 * H, 1088 * H)
    assert f.allocated == 64 * H  # the whole job, maintenance hours included: nothing silently dropped
    assert f.over_allocated == 32 * H  # 4 h × 8 GPUs ran while the window said nothing could
    assert f.unallocated == 1056 * H  # 1088 available − 32 allocated outside the window
    assert f.unallocated_tflop == 1056 * H * 989
    assert f.reserved_cost == (Money("JPY", 1152 * 450),)
    assert f.unallocated_cost == (Money("JPY", 1056 * 450),)
    assert f.unpriced_unallocated == 0
    assert f.busy is None and f.busy_tflop is None  # no NVML agent: "n/a"
    assert [d.label for d in view.days] == ["2026-04-29", "2026-04-30", "2026-05-01"]
    assert [d.figures.unallocated for d in view.days] == [384 * H, (384 - 32 - 16) * H, (384 - 32 - 16) * H]
    assert sum(d.figures.reserved for d in view.days) == f.reserved
    assert [(c.cluster, c.gpu_type) for c in view.cells] == [("c1", "h100")]


def test_each_month_counts_its_own_side_of_the_boundary(pool: Engine) -> None:
    with pool.connect() as conn:
        april = pool_view(conn, CATALOG, start=APR29, end=MAY1, now=MAY2, tz="UTC").total.figures
        may = pool_view(conn, CATALOG, start=MAY1, end=MAY2, now=MAY2, tz="UTC").total.figures
        assert maintenance_seconds(conn, "c1", APR29, MAY1) == 2 * H
        assert maintenance_seconds(conn, "c1", MAY1, MAY2) == 2 * H
        assert maintenance_seconds(conn, "c2", APR29, MAY2) == 0
    assert (april.reserved, april.maintenance, april.allocated, april.unallocated) == (768 * H, 32 * H, 32 * H, 720 * H)
    assert (may.reserved, may.maintenance, may.allocated, may.unallocated) == (384 * H, 32 * H, 32 * H, 336 * H)


def test_figures_stop_at_now(pool: Engine) -> None:
    now = utc("2026-04-29T06:00:00")
    with pool.connect() as conn:
        view = pool_view(conn, CATALOG, start=APR29, end=MAY2, now=now, tz="UTC")
    assert view.end == now and view.period_reserved == 1152 * H
    assert view.total.figures.reserved == 6 * 16 * H
    assert [d.label for d in view.days] == ["2026-04-29"]


def test_a_day_in_the_programme_time_zone(pool: Engine) -> None:
    with pool.connect() as conn:
        view = pool_view(conn, CATALOG, start=APR29, end=MAY2, now=MAY2, tz="Asia/Tokyo")
    # Tokyo days start at 15:00 UTC: the first (partial) day holds Apr 29 00:00–15:00 UTC.
    assert view.days[0].label == "2026-04-29" and view.days[0].figures.reserved == 15 * 16 * H
    assert sum(d.figures.reserved for d in view.days) == 1152 * H


def test_job_segments_in_maintenance_are_reported_not_dropped(pool: Engine) -> None:
    with pool.connect() as conn:
        result = maintenance_overlaps(conn, start=APR29, end=MAY2)
        outside = maintenance_overlaps(conn, start=MAY1 + 3 * H, end=MAY2)
    found = result.found
    assert len(found) == 1 and result.node_unknown == []
    o = found[0]
    assert (o.job_id, o.account, o.overlap_s, o.gpu_seconds, o.window_whole_cluster) == (
        "1",
        "acme",
        4 * H,
        32 * H,
        True,
    )
    assert outside.found == [] and outside.node_unknown == []


def _telemetry(
    conn: Connection, hour: int, observed: int, idle: int, gpu: int = 0, *, job_id: int = 1, node: str = "g001"
) -> None:
    values: dict[str, Any] = {c.name: 0 for c in GpuUsageHourly.__table__.columns}
    values.update(
        cluster="c1", job_id=job_id, node=node, gpu_index=gpu, hour=hour, gpu_uuid=f"GPU-{job_id}-{gpu}", account="acme",
        user_name="alice", observed_seconds=observed, idle_seconds=idle, allocated=True, job_process_seen=True,
        foreign_job_id=None, idle_since=None, last_xid=None, first_sample=hour, last_sample=hour + observed,
    )  # fmt: skip
    conn.execute(insert(GpuUsageHourly).values(**values))


def test_busy_hours_come_from_nvml_where_an_agent_reported(pool: Engine) -> None:
    with pool.begin() as conn:
        _telemetry(conn, JOB_START, 3600, 600, gpu=0)
        _telemetry(conn, JOB_START, 3600, 0, gpu=1)
    with pool.connect() as conn:
        f = pool_view(conn, CATALOG, start=APR29, end=MAY2, now=MAY2, tz="UTC").total.figures
    assert f.busy == 3000 + 3600
    assert f.busy_tflop == (3000 + 3600) * 989


def test_a_partial_window_and_an_unpriced_block(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        set_provider(conn, ProviderSpec("cloud", "クラウド", "Cloud", "cloud"), now=APR29)
        set_reservation(
            conn, ReservationSpec("cloud", "c2", "H200x8", "h200", 8, 4, APR29, MAY1), known_gpu_types=TYPES
        )
        # Hosts stopped for 45 minutes, one node at a time (recorded as one node).
        set_window(conn, MaintenanceSpec("c2", APR29 + H, APR29 + H + 45 * 60, node_count=1), now=APR29)
        view = pool_view(conn, CATALOG, start=APR29, end=MAY1, now=MAY1, tz="UTC")
    f = view.total.figures
    assert (f.reserved, f.maintenance) == (48 * 32 * H, 45 * 60 * 8)
    assert f.unallocated_cost == () and f.unpriced_unallocated == f.unallocated


def test_gauges_give_gpus_now_and_the_days_and_months_figures(pool: Engine) -> None:
    with pool.connect() as conn:
        during = pool_gauges(conn, CATALOG, now=utc("2026-05-01T01:00:00"), tz="UTC")
        after = pool_gauges(conn, CATALOG, now=utc("2026-05-01T12:00:00"), tz="UTC")
    assert [(g.cluster, g.gpu_type, g.reserved_gpus_now, g.maintenance_gpus_now) for g in during] == [
        ("c1", "h100", 16, 16)
    ]
    assert (after[0].reserved_gpus_now, after[0].maintenance_gpus_now) == (16, 0)
    assert after[0].today.reserved == 12 * 16 * H
    assert after[0].month.maintenance == 2 * 16 * H


def test_grants_over_the_reserved_capacity_are_flagged(pool: Engine) -> None:
    with pool.begin() as conn:
        set_grant(conn, GrantSpec("acme", "c1", "h100", 1100 * H, APR29, MAY2), known_gpu_types=TYPES)
        rows = check_grants(conn, CATALOG, start=APR29, end=MAY2, tz="UTC")
        assert default_window(conn) == (APR29, MAY2)
    by = {(r.window, r.scope): r for r in rows}
    whole = by[("whole", "c1 / h100")]
    assert (whole.granted, whole.reserved, whole.available, whole.status) == (
        1100 * H,
        1152 * H,
        1088 * H,
        "over-available",
    )
    april = by[("2026-04", "c1 / h100")]  # two of the grant's three days
    assert (april.granted, april.reserved, april.status) == (1100 * H * 2 // 3, 768 * H, "ok")
    assert by[("whole", "pool / all types")].granted == 1100 * H * 989
    with pool.begin() as conn:
        set_grant(
            conn, GrantSpec("acme", POOL, NORMALISED, 2 * TFLOP_PER_EFLOPS_HOUR, APR29, MAY2), known_gpu_types=TYPES
        )
        rows = check_grants(conn, CATALOG, start=APR29, end=MAY2, tz="UTC")
    pool_row = next(r for r in rows if r.window == "whole" and r.scope == "pool / all types")
    assert pool_row.status == "over-reserved"
    assert pool_row.granted == 1100 * H * 989 + 2 * TFLOP_PER_EFLOPS_HOUR
    assert pool_row.excess == pool_row.granted - 1088 * H * 989


def test_check_windows_are_months_and_the_whole() -> None:
    assert [w[0] for w in check_windows(APR29, MAY2, "UTC")] == ["2026-04", "2026-05", "whole"]
    assert [w[0] for w in check_windows(APR29, MAY1, "UTC")] == ["2026-04"]


def test_slurm_windows_are_reconciled_but_begun_ones_are_kept(engine: Engine, settings: Settings) -> None:
    now = utc("2026-05-01T00:00:00")
    past = MaintenanceSpec("c1", now - 2 * H, now - H, source="slurm", reference="maint_weekly")
    future = MaintenanceSpec("c1", now + 24 * H, now + 25 * H, source="slurm", reference="maint_weekly")
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        first = sync_windows(conn, "c1", "slurm", [past, future], now=now)
        again = sync_windows(conn, "c1", "slurm", [past, future], now=now)
        moved = MaintenanceSpec("c1", now + 48 * H, now + 49 * H, source="slurm", reference="maint_weekly")
        third = sync_windows(conn, "c1", "slurm", [moved], now=now)
        windows = [(w.start, w.reference) for w in list_windows(conn, cluster="c1")]
        remove_window(conn, list_windows(conn, cluster="c1")[0].id)
    assert (first.added, again.unchanged, again.added) == (2, 2, 0)
    assert (third.added, third.removed) == (1, 1)
    assert windows == [(now - 2 * H, "maint_weekly"), (now + 48 * H, "maint_weekly")]


def test_a_window_on_named_nodes_flags_only_the_jobs_on_those_nodes(pool: Engine) -> None:
    """10 of 80 nodes down must not flag every job on the cluster: the GPU telemetry says which job ran where,
    else the scheduler's node list; a job nothing places is counted apart, never flagged."""
    window = (utc("2026-05-01T04:00:00"), utc("2026-05-01T08:00:00"))
    with pool.begin() as conn:
        set_window(conn, MaintenanceSpec("c1", *window, reference="ABCI-node", node_count=2, nodes="gpu[01-02]"),
                   now=APR29)
        set_window(conn, MaintenanceSpec("c1", *window, reference="ABCI-unnamed", node_type="H100x8", node_count=1),
                   now=APR29)
        load_records(conn, [
            job(2, window[0], 2 * H, 8),  # telemetry: gpu02, on the window
            job(3, window[0], 2 * H, 8),  # telemetry: gpu07, off it
            job(4, window[0] + H, H, 4, nodes="gpu[01,09]"),  # no telemetry, NodeList shares gpu01
            job(5, window[0], H, 4, nodes="gpu[05-06]"),  # no telemetry, NodeList off the window
            job(6, window[0], 3 * H, 2),  # neither: node unknown
            job(7, window[0], H, 8, nodes="gpu01"),  # telemetry (gpu07) wins over the node list
        ], source="test", kind="sacct", now=MAY2)  # fmt: skip
        _telemetry(conn, window[0], 3600, 3600, gpu=0, job_id=2, node="gpu02")
        _telemetry(conn, window[0], 3600, 3600, gpu=0, job_id=3, node="gpu07")
        _telemetry(conn, window[0], 3600, 3600, gpu=1, job_id=7, node="gpu07")
    with pool.connect() as conn:
        result = maintenance_overlaps(conn, start=MAY1, end=MAY2)
    # the whole-cluster window of Apr 30 - May 1 02:00 still flags job 1; the named-node window flags job 2 (on
    # gpu02) and job 4 (NodeList), not 3, 5 or 7; the window naming no nodes cannot be attributed and flags nothing
    assert sorted((o.job_id, o.window_whole_cluster, o.nodes_from) for o in result.found) == [
        ("1", True, "cluster"), ("2", False, "telemetry"), ("4", False, "node_list"),
    ]  # fmt: skip
    assert [(o.job_id, o.overlap_s, o.gpu_seconds) for o in result.node_unknown] == [("6", 3 * H, 6 * H)]
    assert result.gpu_seconds == 2 * H * 8 + 2 * H * 8 + H * 4  # job 1 from May 1 00:00, job 2, job 4


def test_a_window_whose_node_names_are_no_hostlist_is_refused(pool: Engine) -> None:
    with pool.begin() as conn, pytest.raises(UsageError, match=r"nodes: hostlist 'gpu\[02-01\]'"):
        set_window(conn, MaintenanceSpec("c1", MAY1, MAY2, node_count=2, nodes="gpu[02-01]"), now=APR29)
