"""The telemetry table and its read API, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from quotad.ledger.telemetry import (
    GpuUsageRow,
    current_gpu_states,
    idle_allocations,
    job_gpu_totals,
    node_hour_rows,
    upsert_gpu_usage,
)
from quotad.ledger.telemetry_models import GpuUsageHourly
from quotad.plugins.host import load_plugins
from quotad.tables import Base
from tests.test_nvml_support import T0

H = 3600


def row(**kw: object) -> GpuUsageRow:
    base: dict[str, object] = dict(
        cluster="c1",
        job_id=42,
        node="gpu001",
        gpu_index=0,
        hour=T0,
        gpu_uuid="GPU-0",
        account="acme",
        user_name="alice",
        samples=360,
        observed_seconds=3600,
        idle_seconds=600,
        idle_mem_held_seconds=0,
        util_pct_seconds=3000 * 90,
        util_max=99,
        mem_used_max=70 * 2**30,
        mem_total=80 * 2**30,
        energy_mj=2_000_000_000,
        allocated=True,
        job_process_seen=True,
        foreign_processes=0,
        foreign_job_id=None,
        idle_since=None,
        recent_seconds=1800,
        recent_idle_seconds=0,
        recent_util_pct_seconds=1800 * 90,
        throttle_mask=0,
        xid_events=0,
        last_xid=None,
        ecc_uncorrected=0,
        first_sample=T0,
        last_sample=T0 + H,
        updated_at=T0 + H,
    )
    base.update(kw)
    return GpuUsageRow(**base)  # type: ignore[arg-type]


def test_migration_builds_the_model(engine: Engine) -> None:
    assert "gpu_usage_hourly" in inspect(engine).get_table_names()
    assert not load_plugins().failed  # the plugins' tables join Base.metadata as they load, as in the CLI
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upsert_is_idempotent_and_never_goes_back(engine: Engine) -> None:
    first = row(observed_seconds=1200, samples=120, last_sample=T0 + 1200)
    later = row()
    with engine.begin() as conn:
        assert upsert_gpu_usage(conn, [first]) == 1
        upsert_gpu_usage(conn, [later])
        upsert_gpu_usage(conn, [later])  # a repeated flush
        upsert_gpu_usage(conn, [first])  # a stale spool window replayed late
        upsert_gpu_usage(conn, [first, later, first])  # duplicates in one batch: the newest wins
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(GpuUsageHourly)) == 1
        (stored,) = node_hour_rows(conn, "c1", "gpu001", T0)
    assert stored == later


def test_current_states_and_idle_allocations(engine: Engine) -> None:
    now = T0 + H + 1800
    rows = [
        row(),  # job 42 GPU 0, previous hour
        row(
            hour=T0 + H,
            last_sample=now - 20,
            idle_since=now - 2000,
            idle_seconds=1780,
            samples=180,
            recent_idle_seconds=1800,
        ),  # ...current hour: idle for 33 minutes
        row(gpu_index=1, gpu_uuid="GPU-1", hour=T0 + H, last_sample=now - 20, idle_since=now - 300),
        row(
            job_id=43,
            gpu_index=2,
            gpu_uuid="GPU-2",
            hour=T0 + H,
            last_sample=now - 20,
            idle_since=now - 4000,
            allocated=False,
            foreign_processes=1,
            foreign_job_id=42,
        ),
        row(job_id=44, node="gpu002", hour=T0 + H, last_sample=now - 900),  # agent silent for 15 min: stale
        row(cluster="c2", hour=T0 + H, last_sample=now - 20, idle_since=now - 9000),
    ]
    with engine.begin() as conn:
        upsert_gpu_usage(conn, rows)
    with engine.connect() as conn:
        states = current_gpu_states(conn, "c1", now=now)
        idle = idle_allocations(conn, "c1", now=now, min_idle_s=1800)
    assert [(s.node, s.gpu_index, s.job_id) for s in states] == [
        ("gpu001", 0, 42),
        ("gpu001", 1, 42),
        ("gpu001", 2, 43),
    ]
    s0 = states[0]
    assert s0.idle_for(now) == 1980 and s0.recent_util_mean == 90 and s0.allocated  # known up to its last sample
    assert states[2].foreign_job_id == 42 and not states[2].allocated
    assert [(s.gpu_index, s.job_id) for s in idle] == [(0, 42)]  # GPU 1 idle only 5 min; job 43 not allocated


def test_job_totals_over_hours(engine: Engine) -> None:
    rows = [
        row(),
        row(hour=T0 + H, idle_seconds=3600, util_pct_seconds=0, energy_mj=300_000_000, last_sample=T0 + 2 * H),
        row(gpu_index=1, gpu_uuid="GPU-1", idle_seconds=3600, util_pct_seconds=0, mem_used_max=80 * 2**30),
        row(job_id=43, allocated=False, observed_seconds=100, idle_seconds=0, first_sample=T0 + 5),
        row(hour=T0 - H, first_sample=T0 - H, last_sample=T0),  # outside the range asked
    ]
    with engine.begin() as conn:
        upsert_gpu_usage(conn, rows)
    with engine.connect() as conn:
        totals = {t.job_id: t for t in job_gpu_totals(conn, start=T0, end=T0 + 2 * H, cluster="c1")}
        only = job_gpu_totals(conn, start=T0, end=T0 + 2 * H, job_ids=[43])
    j42 = totals[42]
    assert (j42.gpus, j42.observed_gpu_seconds, j42.idle_gpu_seconds, j42.busy_gpu_seconds) == (2, 10800, 7800, 3000)
    assert j42.allocated_idle_gpu_seconds == 7800 and j42.unallocated_gpu_seconds == 0
    assert j42.util_pct_seconds == 2 * 0 + 3000 * 90 and j42.mem_used_max == 80 * 2**30
    assert j42.energy_mj == 2 * 2_000_000_000 + 300_000_000
    assert (j42.first_sample, j42.last_sample) == (T0, T0 + 2 * H)
    assert j42.util_mean == 3000 * 90 / 10800 and j42.idle_ratio == 7800 / 10800
    assert [t.unallocated_gpu_seconds for t in only] == [100]
    assert dataclasses.is_dataclass(j42)
