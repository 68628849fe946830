"""Parse ``sacct --allocations --duplicates --parsable2`` text (with its header) into ``JobRecord``s.

Columns are found by name, so any order and extra columns work. Each bad line becomes an ``InputError``
carrying its line number and reason, yielded in place of a record, so one broken line never stops the rest
of a file from landing and is never silently dropped.

``NodeList`` is optional (files saved before quotad asked for it parse as before, their nodes unknown); when
present it is kept as printed (``gpu[01-03,07]``) after a strict hostlist check, ``None assigned`` meaning none.

Times: sacct prints local time of the process that ran it (``TZ``) unless ``SLURM_TIME_FORMAT=%s`` makes it
print epoch seconds; both are accepted. Local times are read in the cluster's configured ``timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from zoneinfo import ZoneInfo

from quotad.collectors.hostlist import hostlist_size
from quotad.config import Settings
from quotad.errors import InputError, RefusalReason, RefusedValue, refusal_of
from quotad.ledger.bounds import DEFAULT_BOUNDS, RecordBounds, bounds_for
from quotad.ledger.records import JobRecord

__all__ = [
    "NODE_COLUMN",
    "REQUIRED_COLUMNS",
    "SACCT_FORMAT",
    "ClusterView",
    "SacctParser",
    "cluster_views",
    "parse_alloc_gpus",
    "parse_node_list",
]

REQUIRED_COLUMNS = (
    "JobID",
    "JobIDRaw",
    "Cluster",
    "Account",
    "User",
    "Partition",
    "State",
    "Submit",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocTRES",
)
#: Read when present: where the segment ran (``jobs.node_list``), for maintenance overlaps.
NODE_COLUMN = "NodeList"
#: The ``--format`` quotad's own collector asks for (the required columns, the nodes, context for people).
SACCT_FORMAT = ",".join((*REQUIRED_COLUMNS, NODE_COLUMN, "JobName"))

_NO_TIME = frozenset({"", "Unknown", "None", "0"})
#: NodeList values that name no node: a job never started, or a record slurmdbd kept without one.
_NO_NODES = frozenset({"", "None assigned", "(null)"})
_STATE = re.compile(r"^[A-Z_]+$")
#: Bound on the per-minute time cache (entries); it is cleared when full, so memory stays flat.
_MINUTE_CACHE = 50_000


class ClusterView:
    """What the parser needs to know about one configured cluster."""

    __slots__ = ("_hours", "_minutes", "_tres", "bounds", "default_gpu_type", "known_gpu_types", "name", "zone")

    def __init__(
        self,
        *,
        name: str,
        default_gpu_type: str,
        timezone: str,
        known_gpu_types: Iterable[str],
        bounds: RecordBounds = DEFAULT_BOUNDS,
    ) -> None:
        self.name = name
        #: What every record of this cluster must satisfy before it is charged (``quotad.ledger.bounds``).
        self.bounds = bounds
        self.default_gpu_type = default_gpu_type
        self.zone = ZoneInfo(timezone)
        self.known_gpu_types = frozenset(known_gpu_types)
        self._minutes: dict[str, int] = {}
        self._hours: dict[str, int] = {}
        self._tres: dict[str, tuple[tuple[str, int], ...]] = {}

    def epoch(self, value: str, column: str = "time") -> int:
        """Local ``YYYY-MM-DDTHH:MM:SS`` (or epoch digits) to UTC epoch seconds; errors name ``column``.

        Conversions are cached per local minute, and the zone offset per local hour: a six-month history is
        millions of timestamps in a few thousand hours, and zone conversion would otherwise be the parser's
        most expensive step.
        """
        base = self._minutes.get(value[:16])
        if base is not None and len(value) == 19 and value[16] == ":" and value[17:].isdigit():
            return base + int(value[17:])
        if value.isdigit():
            return int(value)
        if len(value) != 19 or value[10] != "T" or value[13] != ":" or value[16] != ":":
            raise ValueError(f"{column}: expected YYYY-MM-DDTHH:MM:SS, got {value!r}")
        minute, second = value[14:16], value[17:]
        if not (minute.isdigit() and second.isdigit() and int(minute) < 60 and int(second) <= 60):
            raise ValueError(f"{column}: {value!r} is not a valid time")
        hour = self._hours.get(value[:13])
        if hour is None:
            try:
                local = datetime.fromisoformat(value[:13] + ":00:00")
                hour = int(local.replace(tzinfo=self.zone).timestamp())
            except (ValueError, OverflowError, OSError):
                # OverflowError: year 1 in a zone east of UTC is before year 1 in UTC.
                raise ValueError(f"{column}: {value!r} is not a valid time") from None
            if len(self._hours) >= _MINUTE_CACHE:
                self._hours.clear()
            self._hours[value[:13]] = hour
        if len(self._minutes) >= _MINUTE_CACHE:
            self._minutes.clear()
        base = self._minutes[value[:16]] = hour + int(minute) * 60
        return base + int(second)

    def gpus(self, tres: str) -> tuple[tuple[str, int], ...]:
        """``parse_alloc_gpus`` memoised: a programme's jobs come in a few hundred distinct TRES shapes."""
        found = self._tres.get(tres)
        if found is None:
            found = parse_alloc_gpus(tres, self)
            if len(self._tres) < 100_000:
                self._tres[tres] = found
        return found


def cluster_views(settings: Settings, *, timezone: str | None = None) -> dict[str, ClusterView]:
    """One parser view per configured cluster, keyed by the name sacct prints in its Cluster column.

    ``timezone`` overrides every cluster's configured zone (for sacct output quotad itself ran with ``TZ``).
    """
    bounds = bounds_for(settings)
    return {
        c.name: ClusterView(
            name=c.name,
            default_gpu_type=c.default_gpu_type,
            timezone=timezone or c.timezone,
            known_gpu_types=settings.gpu_types,
            bounds=bounds[c.name],
        )
        for c in settings.clusters
    }


def parse_alloc_gpus(tres: str, cluster: ClusterView) -> tuple[tuple[str, int], ...]:
    """GPUs by type from an AllocTRES string such as ``cpu=8,gres/gpu:h100=2,gres/gpu=2,mem=8G``.

    Typed entries win; an untyped ``gres/gpu=N`` beyond the typed sum is charged as the cluster's default
    type (Slurm prints only the untyped count when the job asked for no type and gres.conf gives none).
    ``gres/gpumem`` and ``gres/gpuutil`` are other TRES and are ignored.
    """
    if "gres/gpu" not in tres:
        return ()
    untyped = 0
    typed: dict[str, int] = {}
    for item in tres.split(","):
        if not item.startswith("gres/gpu"):
            continue
        name, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"AllocTRES item {item!r} has no '='")
        if name == "gres/gpu":
            untyped = _count(raw, item)
        elif name.startswith("gres/gpu:"):
            gpu_type = name[9:].lower()
            if gpu_type not in cluster.known_gpu_types:
                raise RefusedValue(
                    RefusalReason.UNKNOWN_GPU_TYPE,
                    f"GPU type {gpu_type!r} in AllocTRES is not configured under [gpu_types] "
                    f"(known: {', '.join(sorted(cluster.known_gpu_types))})",
                )
            typed[gpu_type] = typed.get(gpu_type, 0) + _count(raw, item)
    rest = untyped - sum(typed.values())
    if rest > 0:
        typed[cluster.default_gpu_type] = typed.get(cluster.default_gpu_type, 0) + rest
    return tuple(sorted((t, n) for t, n in typed.items() if n > 0))


def _count(raw: str, item: str) -> int:
    if not raw.isdigit():
        raise ValueError(f"AllocTRES item {item!r}: GPU count is not a whole number")
    return int(raw)


class SacctParser:
    """Streams records out of sacct text; one instance per input source."""

    def __init__(self, *, clusters: Mapping[str, ClusterView], source: str) -> None:
        self.clusters = clusters
        self.source = source
        self._states: dict[str, str] = {}

    def _error(
        self, line_no: int, reason: str, line: str = "", refusal: RefusalReason = RefusalReason.INVALID
    ) -> InputError:
        return InputError(reason, source=self.source, line_no=line_no, line=line, refusal=refusal)

    def parse(self, lines: Iterable[str]) -> Iterator[JobRecord | InputError]:
        """Yield a record or an ``InputError`` per data line; a bad header stops with one fatal error."""
        numbered = enumerate(lines, start=1)
        header_no, header_line = next(((n, text) for n, text in numbered if text.strip()), (0, ""))
        if not header_line:
            return
        # A file saved by an editor may start with a UTF-8 byte-order mark; it is not part of the first column.
        header = header_line.rstrip("\r\n").removeprefix("\ufeff").split("|")
        missing = [col for col in REQUIRED_COLUMNS if col not in header]
        if missing:
            raise self._error(
                header_no,
                f"header lacks required column(s) {', '.join(missing)}; expected sacct --parsable2 output with its "
                f"header line (no --noheader), e.g. --format={SACCT_FORMAT}",
                header_line.rstrip("\r\n"),
                RefusalReason.MALFORMED,
            )
        width = len(header)
        pick = itemgetter(*(header.index(col) for col in REQUIRED_COLUMNS))
        node_at = header.index(NODE_COLUMN) if NODE_COLUMN in header else None
        for line_no, raw in numbered:
            line = raw.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("|")
            if len(fields) != width:
                yield self._error(
                    line_no,
                    f"expected {width} '|'-separated fields as in the header, got {len(fields)}",
                    line,
                    RefusalReason.MALFORMED,
                )
                continue
            try:
                record = self._record(pick(fields), None if node_at is None else fields[node_at])
                self.clusters[record.cluster].bounds.check(record)
            except (ValueError, OverflowError) as exc:  # RefusedValue (the gate's refusals too) carries its kind
                yield self._error(line_no, str(exc), line, refusal_of(exc))
                continue
            yield record

    def _record(self, fields: tuple[str, ...], node_list: str | None) -> JobRecord:
        job_id, raw_id, cluster_name, account, user, partition, state, submit, start, end, elapsed, tres = fields
        cluster = self.clusters.get(cluster_name)
        if cluster is None:
            raise RefusedValue(
                RefusalReason.UNKNOWN_CLUSTER,
                f"Cluster {cluster_name!r} is not configured (known: {', '.join(sorted(self.clusters)) or 'none'}); "
                "add it under [[clusters]]",
            )
        if not raw_id.isdigit():
            raise ValueError(f"JobIDRaw {raw_id!r} is not a number")
        if not elapsed.isdigit():
            raise ValueError(f"ElapsedRaw {elapsed!r} is not a whole number of seconds")
        known = self._states.get(state)
        if known is None:
            known = state.split(" ", 1)[0]
            if not _STATE.match(known):
                raise ValueError(f"State {known!r} is not a Slurm job state")
            self._states[state] = known
        if submit in _NO_TIME:
            raise ValueError("Submit time is missing")
        epoch = cluster.epoch
        submit_at = epoch(submit, "Submit")
        start_at = None if start in _NO_TIME else epoch(start, "Start")
        end_at = None if end in _NO_TIME else epoch(end, "End")
        seconds = int(elapsed)
        if seconds and start_at is None:
            raise ValueError(f"ElapsedRaw is {seconds} but Start is {start!r}")
        return JobRecord(
            cluster_name,
            job_id,
            int(raw_id),
            submit_at,
            account,
            user,
            partition,
            known,
            start_at,
            end_at,
            seconds,
            cluster.gpus(tres),
            parse_node_list(node_list),
        )


def parse_node_list(text: str | None, what: str = "NodeList") -> str | None:
    """NodeList as stored: None when absent or naming no node (``None assigned``); ``ValueError`` naming ``what``
    if it is not a hostlist."""
    if text is None or text in _NO_NODES:
        return None
    try:
        hostlist_size(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return text
