"""The one write path every collector shares: job segments in, hourly rollups kept exact.

Why it looks the way it does:
- Idempotent: a segment already stored with identical fields is skipped; a changed one (running ->
  completed, a longer ElapsedRaw) first takes back what it had charged, then charges anew. Ingesting the same
  records twice, or overlapping windows, therefore changes nothing. The node list is updated like the other
  fields, except that a record that does not know it (None) keeps the stored one, and a change of nodes alone
  charges nothing again.
- Transactional: the caller owns the transaction (``engine.begin()``), so a poll and its watermark, or a
  whole file with its quarantined lines, land together or not at all.
- Fast: records arrive in batches; existing rows are fetched once per batch, new rows go in with one
  executemany, and rollup deltas are summed in memory and applied once, in key order (so two writers on
  one PostgreSQL ledger lock rollup rows in the same order and cannot deadlock).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from quotad.config import Settings
from quotad.errors import InputError, RefusalReason, refusal_of
from quotad.ledger.bounds import DEFAULT_BOUNDS, RecordBounds, RefusedRecord, storable_text
from quotad.ledger.charge import HourlyDeltas
from quotad.ledger.models import Cluster, IngestError, IngestRun, Job, UsageHourly
from quotad.ledger.records import JobRecord, decode_gpus, encode_gpus

__all__ = [
    "WRITE_FAILED",
    "IngestSummary",
    "SegmentWriter",
    "finish_run",
    "load_records",
    "lock_cluster_writes",
    "quarantine",
    "retrying",
    "start_run",
    "sync_clusters",
]

BATCH = 5000
#: A quarantined line is stored up to this many characters (its hash covers all of it).
MAX_STORED_LINE = 65_536
#: ``ingest_errors.source`` is a String(512).
_MAX_SOURCE = 512
#: How many refused lines an ``IngestSummary`` carries for display; all of them are quarantined regardless.
MAX_REPORTED_ERRORS = 20
_JOBS = cast(Table, Job.__table__)
_ROLLUP = cast(Table, UsageHourly.__table__)
_ROLLUP_KEY = ("cluster", "account", "user_name", "partition", "gpu_type", "hour")
#: The columns compared to decide whether a re-ingested segment changed, in ``SegmentWriter`` tuple order.
_COMPARED = (
    "job_id",
    "account",
    "user_name",
    "partition",
    "state",
    "start_time",
    "end_time",
    "elapsed_raw",
    "gpu_count",
    "gpu_alloc",
    "charged_seconds",
    "node_list",
)
_INSERTED = ("cluster", "job_id_raw", "submit", *_COMPARED)


@dataclass
class IngestSummary:
    """What one ingest did; ``lines_bad`` > 0 makes the CLI exit 1."""

    run_id: int = 0
    source: str = ""
    lines_total: int = 0
    records_ok: int = 0
    lines_bad: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[InputError] = field(default_factory=list)
    #: Every refused line counted by kind (``errors`` keeps only the first few), for metrics and /healthz.
    refused: Counter[RefusalReason] = field(default_factory=Counter)


def sync_clusters(conn: Connection, settings: Settings) -> None:
    """Mirror configured clusters into the ledger so jobs can reference them.

    Insert-if-absent, so collectors of different clusters starting together on one PostgreSQL ledger do not
    trip over each other's inserts.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    existing = {row.name: row for row in conn.execute(select(Cluster))}
    for cluster in settings.clusters:
        values = {"scheduler": cluster.scheduler, "default_gpu_type": cluster.default_gpu_type}
        row = existing.get(cluster.name)
        if row is None:
            conn.execute(dialect.insert(Cluster).values(name=cluster.name, **values).on_conflict_do_nothing())
        elif (row.scheduler, row.default_gpu_type) != (values["scheduler"], values["default_gpu_type"]):
            conn.execute(update(Cluster).where(Cluster.name == cluster.name).values(**values))


#: First key of quotad's PostgreSQL advisory locks ("qd" + 1): the second is the cluster name's hash.
_LOCK_SPACE = 0x71640001
#: SQLSTATEs after which the whole transaction may simply be run again: serialization failure, deadlock.
_RETRYABLE = frozenset({"40001", "40P01"})
_T = TypeVar("_T")
#: How ``collector_state.last_error`` of a poll whose write the ledger refused begins; the next poll then
#: writes record by record (``load_records(isolate=True)``) and quarantines what is refused.
WRITE_FAILED = "the ledger refused the write of"


def lock_cluster_writes(conn: Connection, *clusters: str) -> None:
    """Serialise writers of the same clusters until the transaction ends (PostgreSQL; SQLite has one writer).

    Two ingests of overlapping records otherwise interleave: job rows go in in file order and rollup rows in
    key order, so each can hold what the other waits for (``DeadlockDetected``), or both insert the same new
    segment (``IntegrityError``). Locks are taken in name order so two multi-cluster writers cannot deadlock.
    """
    if conn.dialect.name != "postgresql":
        return
    for name in sorted(set(clusters)):
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"), {"space": _LOCK_SPACE, "name": name}
        )


def retrying(engine: Engine, work: Callable[[Connection], _T], *, attempts: int = 3) -> _T:
    """Run ``work`` in a transaction, again from the start after a serialization failure or deadlock.

    ``work`` must be repeatable (re-read its input): a retried attempt sees none of the failed one's writes.
    """
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in _RETRYABLE or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def start_run(conn: Connection, *, source: str, kind: str, now: int) -> int:
    result = conn.execute(insert(IngestRun).values(source=source, kind=kind, started_at=now))
    run_id = result.inserted_primary_key
    assert run_id is not None
    return int(run_id[0])


def finish_run(conn: Connection, summary: IngestSummary, *, now: int) -> None:
    conn.execute(
        update(IngestRun)
        .where(IngestRun.id == summary.run_id)
        .values(
            finished_at=now,
            lines_total=summary.lines_total,
            records_ok=summary.records_ok,
            lines_bad=summary.lines_bad,
        )
    )


def quarantine(conn: Connection, run_id: int, errors: Sequence[InputError], *, now: int) -> None:
    """Store refused lines verbatim; the same line of the same source is kept once however often re-ingested."""
    if not errors:
        return
    rows = []
    for err in errors:
        text = err.line
        rows.append(
            {
                "run_id": run_id,
                "source": _storable(err.source)[:_MAX_SOURCE],
                "line_no": min(max(err.line_no, 0), 2**31 - 1),
                "line_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                "line": _storable(text[:MAX_STORED_LINE]),
                "reason": _storable(err.reason),
                "code": err.code,
                "created_at": now,
            }
        )
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(IngestError).on_conflict_do_nothing(index_elements=["source", "line_no", "line_sha256"])
    conn.execute(stmt, rows)


def _storable(text: str) -> str:
    """``text`` as both ledgers store it: a NUL byte (PostgreSQL refuses it even in TEXT) shown as ``\\x00``,
    text that is not UTF-8 (a lone surrogate from stdin) with ``?`` in its place."""
    if storable_text(text) is None:
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "replace").decode("utf-8")


class SegmentWriter:
    """Writes batches of segments inside the caller's transaction; call ``flush`` before committing."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._deltas = HourlyDeltas()
        self._encoded: dict[tuple[tuple[str, int], ...], tuple[str, int]] = {}
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self._insert_sql = (
            f"INSERT INTO {_JOBS.name} ({', '.join(_INSERTED)}) VALUES ({', '.join([mark] * len(_INSERTED))})"
        )
        # The same statement on SQLite and PostgreSQL (both take ON CONFLICT ... DO UPDATE with ``excluded``).
        columns = (*_ROLLUP_KEY, "gpu_seconds")
        self._upsert_sql = (
            f"INSERT INTO {_ROLLUP.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
            f"ON CONFLICT ({', '.join(_ROLLUP_KEY)}) DO UPDATE SET "
            f"gpu_seconds = {_ROLLUP.name}.gpu_seconds + excluded.gpu_seconds"
        )
        self.inserted = 0
        self.updated = 0
        self.unchanged = 0

    def _encode(self, gpus: tuple[tuple[str, int], ...]) -> tuple[str, int]:
        found = self._encoded.get(gpus)
        if found is None:
            found = self._encoded[gpus] = (encode_gpus(gpus), sum(n for _, n in gpus))
        return found

    def _charge(
        self,
        cluster: str,
        account: str,
        user: str,
        partition: str,
        start: int | None,
        elapsed: int,
        gpus: tuple[tuple[str, int], ...],
        sign: int,
    ) -> None:
        if start is None or elapsed <= 0:
            return
        add = self._deltas.add
        for gpu_type, count in gpus:
            add((cluster, account, user, partition, gpu_type), start, elapsed, count, sign)

    def write(self, records: Iterable[JobRecord]) -> None:
        """Upsert one batch (any size; duplicates within it: the last one wins)."""
        latest = {(rec[0], rec[2], rec[3]): rec for rec in records}  # JobRecord.key, without the call
        if not latest:
            return
        existing = self._existing(latest)
        new_rows: list[tuple[Any, ...]] = []
        changed_rows: list[dict[str, object]] = []
        charge = self._charge
        for key, rec in latest.items():
            cluster, job_id, raw_id, submit, account, user, partition, state, start, end, elapsed, gpus, nodes = rec
            gpus_text, gpu_count = self._encode(gpus)
            charged = elapsed * gpu_count if start is not None else 0
            values = (job_id, account, user, partition, state, start, end, elapsed, gpu_count, gpus_text, charged)
            old = existing.get(key)
            if old is None:
                new_rows.append((cluster, raw_id, submit, *values, nodes))
                charge(cluster, account, user, partition, start, elapsed, gpus, 1)
                continue
            row_id, old_values = old
            # A source that does not say where the job ran (None) leaves the nodes the ledger knows.
            full = (*values, old_values[-1] if nodes is None else nodes)
            if old_values == full:
                self.unchanged += 1
                continue
            changed_rows.append({"row_id": row_id, **dict(zip(_COMPARED, full, strict=True))})
            if old_values[:-1] == values:
                continue  # only the nodes became known or changed: nothing to charge again
            _, o_account, o_user, o_partition, _, o_start, _, o_elapsed, _, o_gpus, _, _ = old_values
            charge(cluster, o_account, o_user, o_partition, o_start, o_elapsed, decode_gpus(o_gpus), -1)
            charge(cluster, account, user, partition, start, elapsed, gpus, 1)
        if new_rows:
            self.conn.exec_driver_sql(self._insert_sql, new_rows)
            self.inserted += len(new_rows)
        if changed_rows:
            stmt = update(_JOBS).where(_JOBS.c.id == bindparam("row_id"))
            self.conn.execute(stmt, changed_rows)
            self.updated += len(changed_rows)

    def _existing(self, latest: dict[tuple[str, int, int], JobRecord]) -> dict[tuple[str, int, int], tuple[int, Any]]:
        """(row id, compared values) of the batch's segments already in the ledger."""
        by_cluster: defaultdict[str, set[int]] = defaultdict(set)
        for cluster, raw_id, _ in latest:
            by_cluster[cluster].add(raw_id)
        cols = [_JOBS.c[name] for name in ("id", *_COMPARED)]
        found: dict[tuple[str, int, int], tuple[int, Any]] = {}
        for cluster, ids in by_cluster.items():
            ordered = sorted(ids)
            for i in range(0, len(ordered), 900):
                chunk = ordered[i : i + 900]
                # A dense run of ids (the usual batch) is one index range; scattered ids are looked up one by one.
                dense = chunk[-1] - chunk[0] < 4 * len(chunk)
                wanted = _JOBS.c.job_id_raw.between(chunk[0], chunk[-1]) if dense else _JOBS.c.job_id_raw.in_(chunk)
                stmt = select(_JOBS.c.job_id_raw, _JOBS.c.submit, *cols).where(_JOBS.c.cluster == cluster, wanted)
                for row in self.conn.execute(stmt):
                    key = (cluster, row[0], row[1])
                    if key in latest:
                        found[key] = (row[2], tuple(row[3:]))
        return found

    def write_alone(self, record: JobRecord) -> str | None:
        """Write one record and its rollup in a savepoint; the database's reason if it refused (then nothing)."""
        counts = (self.inserted, self.updated, self.unchanged)
        try:
            with self.conn.begin_nested():
                self.write([record])
                self.flush()
        except SQLAlchemyError as exc:
            self._deltas.clear()
            self.inserted, self.updated, self.unchanged = counts
            orig = getattr(exc, "orig", None)
            return "the ledger refused the record: " + str(orig if orig is not None else exc).splitlines()[0][:500]
        return None

    def flush(self) -> None:
        """Apply the summed rollup deltas, in key order, as additive upserts (driver-level executemany of tuples:
        a programme's backfill is hundreds of thousands of hour cells, and building a dict per row for the
        compiled statement cost a third of the flush)."""
        if not self._deltas:
            return
        rows = [(c, a, u, p, t, hour, seconds) for (c, a, u, p, t), hour, seconds in self._deltas.items()]
        self._deltas.clear()
        for i in range(0, len(rows), 20000):
            self.conn.exec_driver_sql(self._upsert_sql, rows[i : i + 20000])


def load_records(
    conn: Connection,
    items: Iterable[JobRecord | InputError],
    *,
    source: str,
    kind: str,
    now: int,
    bounds: Mapping[str, RecordBounds] | None = None,
    isolate: bool = False,
) -> IngestSummary:
    """Write a parsed stream (records and refused lines) as one ingest run inside the caller's transaction.

    Every record passes the gate (``quotad.ledger.bounds``) here too, whatever produced it: ``bounds`` by
    cluster (configured plausibility), else only what the ledger can hold. Parsers check first, with the line
    in hand; a record refused only here is quarantined under its position in the stream.

    ``isolate`` writes record by record, each in a savepoint, and quarantines any record the database itself
    refuses (``RefusalReason.LEDGER``): slow, for the poll after one whose write failed, so it moves past the record.
    """
    summary = IngestSummary(source=source, run_id=start_run(conn, source=source, kind=kind, now=now))
    writer = SegmentWriter(conn)
    batch: list[JobRecord] = []
    bad: list[InputError] = []
    for item in items:
        summary.lines_total += 1
        if not isinstance(item, InputError):
            try:
                (bounds.get(item.cluster, DEFAULT_BOUNDS) if bounds else DEFAULT_BOUNDS).check(item)
            except RefusedRecord as exc:
                item = InputError(
                    str(exc), source=source, line_no=summary.lines_total, line=_describe(item), refusal=refusal_of(exc)
                )
        if isinstance(item, InputError):
            _refuse(summary, bad, item)
            if len(bad) >= BATCH:
                quarantine(conn, summary.run_id, bad, now=now)
                bad.clear()
            continue
        if isolate:
            refused = writer.write_alone(item)
            if refused is None:
                summary.records_ok += 1
            else:
                _refuse(
                    summary,
                    bad,
                    InputError(
                        refused,
                        source=source,
                        line_no=summary.lines_total,
                        line=_describe(item),
                        refusal=RefusalReason.LEDGER,
                    ),
                )
            continue
        summary.records_ok += 1
        batch.append(item)
        if len(batch) >= BATCH:
            writer.write(batch)
            batch.clear()
    writer.write(batch)
    writer.flush()
    quarantine(conn, summary.run_id, bad, now=now)
    summary.inserted, summary.updated, summary.unchanged = writer.inserted, writer.updated, writer.unchanged
    finish_run(conn, summary, now=now)
    return summary


def _refuse(summary: IngestSummary, bad: list[InputError], error: InputError) -> None:
    summary.refused[error.refusal] += 1
    summary.lines_bad += 1
    bad.append(error)
    if len(summary.errors) < MAX_REPORTED_ERRORS:
        summary.errors.append(error)


def _describe(record: JobRecord) -> str:
    """A refused record that came without a line (pyslurm, the open-run refresh), as quarantined text."""
    line = "|".join("" if v is None else str(v) for v in record[:11]) + "|" + encode_gpus(record.gpus)
    return line if record.nodes is None else f"{line}|{record.nodes}"
