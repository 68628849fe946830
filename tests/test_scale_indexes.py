"""The reads every poll makes stay off the history: the open-segment read uses ``ix_jobs_open`` (0008scale).

A plan, not a time: on a ledger of any size the poll must find the segments Slurm may still change through
the partial index, never by walking the cluster's segments (``bench/scale.py`` measured that walk growing
with every poll). SQLite uses a partial index only when the query repeats its predicate term for term, which
is why the poll and the index share ``OPEN_SEGMENT``.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, text

from quotad.config import Settings
from quotad.ledger.ingest import load_records, sync_clusters
from quotad.ledger.models import OPEN_SEGMENT, Job
from quotad.ledger.records import JobRecord

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
