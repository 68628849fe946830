"""The PBS collector's progress in the ledger: the file position and the runs still open.

Kept in the ledger (``pbs_log_cursor``, ``pbs_open_runs``) and written in the poll's own transaction, so a poll
that dies leaves position and records untouched together, and two collectors never disagree about where a
cluster's log was read to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from quotad.collectors.pbs_files import FilePosition
from quotad.ledger.collector_models import PbsLogCursor, PbsOpenRun

__all__ = ["RunKey", "forget_open_runs", "load_cursor", "open_run_limits", "remember_open_runs", "save_cursor"]

#: (job_id_raw, submit) of a segment on one cluster
RunKey = tuple[int, int]


def load_cursor(conn: Connection, cluster: str) -> FilePosition | None:
    row = conn.execute(select(PbsLogCursor).where(PbsLogCursor.cluster == cluster)).first()
    if row is None:
        return None
    return FilePosition(row.file_name, row.inode, row.byte_offset, row.line_no, row.head_len, row.head_sha256)


def save_cursor(conn: Connection, cluster: str, position: FilePosition, *, now: int) -> None:
    values = {
        "file_name": position.name,
        "inode": position.inode,
        "byte_offset": position.offset,
        "line_no": position.line_no,
        "head_len": position.head_len,
        "head_sha256": position.head_sha256,
        "updated_at": now,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(PbsLogCursor).values(cluster=cluster, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["cluster"], set_=values))


def open_run_limits(conn: Connection, cluster: str) -> dict[RunKey, int | None]:
    """Walltime limit (None: unknown) of every run the collector holds as open on ``cluster``."""
    rows = conn.execute(
        select(PbsOpenRun.job_id_raw, PbsOpenRun.submit, PbsOpenRun.walltime_limit).where(PbsOpenRun.cluster == cluster)
    )
    return {(int(raw), int(submit)): limit for raw, submit, limit in rows}


def remember_open_runs(conn: Connection, cluster: str, runs: Mapping[RunKey, int | None], *, now: int) -> None:
    if not runs:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(PbsOpenRun)
    stmt = stmt.on_conflict_do_update(
        index_elements=["cluster", "job_id_raw", "submit"],
        set_={"walltime_limit": stmt.excluded.walltime_limit, "seen_at": stmt.excluded.seen_at},
    )
    conn.execute(
        stmt,
        [
            {"cluster": cluster, "job_id_raw": raw, "submit": submit, "walltime_limit": limit, "seen_at": now}
            for (raw, submit), limit in sorted(runs.items())
        ],
    )


def forget_open_runs(conn: Connection, cluster: str, keys: Iterable[RunKey]) -> None:
    wanted = sorted(set(keys))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        conn.execute(
            delete(PbsOpenRun).where(
                PbsOpenRun.cluster == cluster, tuple_(PbsOpenRun.job_id_raw, PbsOpenRun.submit).in_(chunk)
            )
        )
