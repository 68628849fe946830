"""Reads made at every poll and scrape stay off the history: they use the partial indexes of 0009scale.

A plan, not a time: on a ledger of any size the poll must find the segments Slurm may still change through
the partial index, never by walking the cluster's segments (``bench/scale.py`` measured that walk growing
with every poll). SQLite uses a partial index only when the query repeats its predicate term for term, which
is why the poll and the index share ``OPEN_SEGMENT``.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from quotad.config import Settings
from quotad.ledger.ingest import load_records, sync_clusters
from quotad.ledger.models import OPEN_SEGMENT, Job
from quotad.ledger.records import JobRecord
from quotad.ledger.registry import AccountRef, add_company
from quotad.ledger.telemetry import GpuUsageRow, upsert_gpu_usage
from quotad.metrics.sources import idle_gpus, idle_jobs

T = 1_796_000_000


def test_the_polls_open_segment_read_uses_the_partial_index(engine: Engine, settings: Settings) -> None:
    records = [
        JobRecord("c1", str(i), i, T + i, "acme", "alice", "gpu", "RUNNING" if i % 50 == 0 else "COMPLETED",
                  T + i, None if i % 50 == 0 else T + i + 60, 60, (("h100", 1),))
        for i in range(1, 501)
    ]  # fmt: skip
    stmt = select(Job.job_id_raw).where(Job.cluster == "c1", OPEN_SEGMENT)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        load_records(conn, records, source="test", kind="sacct", now=T + 1000)
        assert sorted(conn.scalars(stmt)) == list(range(50, 501, 50))
        # The statement as the driver receives it, values bound (not inlined), as in the poll.
        compiled = stmt.compile(conn)
        params = compiled.construct_params()
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE jobs"))
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # a 500-row table is cheaper to scan
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", params))
        else:
            values = tuple(params[name] for name in compiled.positiontup or ())
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values))
    assert "ix_jobs_open" in plan, plan


@pytest.mark.parametrize("reader", ["idle_gpus", "idle_jobs"])
def test_the_scrapes_idle_gpu_read_uses_the_partial_index(engine: Engine, settings: Settings, reader: str) -> None:
    """The exporter names every cluster and asks only for idle streaks: ``ix_gpu_usage_hourly_idle``, whether it
    reads the GPUs (``idle_gpus``) or counts them per job (``idle_jobs``, what a scrape serves)."""
    rows = [
        GpuUsageRow(
            cluster="c1", job_id=j, node=f"n{j}", gpu_index=g, hour=T - T % 3600, gpu_uuid=f"GPU-{j}-{g}",
            account="acme", user_name="alice", samples=10, observed_seconds=100, idle_seconds=0,
            idle_mem_held_seconds=0, util_pct_seconds=9000, util_max=90, mem_used_max=0, mem_total=1,
            energy_mj=0, allocated=True, job_process_seen=True, foreign_processes=0, foreign_job_id=None,
            idle_since=T - 600 if j == 7 else None, recent_seconds=100, recent_idle_seconds=0,
            recent_util_pct_seconds=9000, throttle_mask=0, xid_events=0, last_xid=None, ecc_uncorrected=0,
            first_sample=T - 600, last_sample=T - 10, updated_at=T - 10,
        )
        for j in range(1, 101)
        for g in range(4)
    ]  # fmt: skip
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "idle_since" in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(conn, company_id="acme", name_ja="アクメ", name_en="Acme", now=T, accounts=[AccountRef("c1", "acme")])
        upsert_gpu_usage(conn, rows)
        event.listen(engine, "before_cursor_execute", capture)
        try:
            if reader == "idle_gpus":
                found = [(g.job_id, g.company) for g in idle_gpus(conn, now=T, stale_after_s=300)]
            else:
                found = [(j.job_id, j.company) for j in idle_jobs(conn, now=T, stale_after_s=300) for _ in range(j.gpus)]
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        assert found == [(7, "acme")] * 4
        assert len(seen) == 1
        statement, parameters = seen[0]
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE gpu_usage_hourly"))
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
        else:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    assert "ix_gpu_usage_hourly_idle" in plan, plan
