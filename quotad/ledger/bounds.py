"""The gate every accounting record passes before it is charged: what the ledger can hold, and what is plausible.

Why here: a record the database cannot store (a 25-digit id, a NUL byte, a 90-character pending-array job id
in a 64-character column) aborted the whole file, and a record it can store but that no cluster could produce
(an ElapsedRaw of 31,000 years, 999,999,999 GPUs, the year 9999) was charged or expanded hour by hour until
memory ran out. Both kinds are refused here, record by record, so the parser that found the line quarantines it
with its number and the rest of the file lands.

Limits come from the ledger's own columns (so a migration that widens one widens the gate) and, for
plausibility, from configuration: ``[[clusters]] max_job_seconds`` and ``gpu_count``, ``[programme]
first_year``/``last_year``; without them the ceilings below apply.

Every refusal carries one ``quotad.errors.RefusalReason``, a small fixed set, so metrics can count refused lines by
reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import String, Table

from quotad.errors import RefusalReason, RefusedValue
from quotad.ledger.models import Job
from quotad.ledger.records import JobRecord

if TYPE_CHECKING:
    from quotad.config import Settings

__all__ = [
    "DEFAULT_MAX_GPUS",
    "DEFAULT_MAX_JOB_SECONDS",
    "INT32_MAX",
    "INT64_MAX",
    "RecordBounds",
    "RefusedRecord",
    "bounds_for",
    "storable_text",
]

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
#: No run is plausibly longer than a year, whatever the cluster's MaxTime (Slurm's UNLIMITED included).
DEFAULT_MAX_JOB_SECONDS = 366 * 86400
#: No job plausibly holds more GPUs than the largest clusters have; far below ``gpu_count``'s 32 bits.
DEFAULT_MAX_GPUS = 100_000


class RefusedRecord(RefusedValue):
    """A parsed record the gate refuses: a ``ValueError`` (so every parser's per-line handling quarantines it)
    that carries its ``RefusalReason``."""


def _length(name: str) -> int:
    column_type = cast(Table, Job.__table__).c[name].type
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


#: (JobRecord field index, name shown, ledger column) of every text field stored.
_TEXT_FIELDS = (
    (1, "JobID", "job_id"),
    (4, "Account", "account"),
    (5, "User", "user_name"),
    (6, "Partition", "partition"),
    (7, "State", "state"),
)


def storable_text(value: str) -> RefusalReason | None:
    """Why ``value`` cannot be stored as text on both ledgers (NUL byte, not UTF-8), or None."""
    if "\x00" in value:
        return RefusalReason.NUL_BYTE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return RefusalReason.ENCODING
    return None


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True, slots=True)
class RecordBounds:
    """What one cluster's records must satisfy; ``check`` raises ``RefusedRecord`` naming the field and limit."""

    max_elapsed: int = DEFAULT_MAX_JOB_SECONDS
    max_gpus: int = DEFAULT_MAX_GPUS
    first_time: int = _year_start(2000)
    #: Exclusive: the first second after the programme's last year.
    end_time: int = _year_start(2101)

    def check(self, record: JobRecord) -> None:
        for index, name, column in _TEXT_FIELDS:
            value = record[index]
            assert isinstance(value, str)
            if len(value) > _LENGTHS[column]:
                raise RefusedRecord(
                    RefusalReason.TOO_LONG,
                    f"{name} is {len(value)} characters; the ledger holds at most {_LENGTHS[column]}",
                )
            _check_storable(name, value)
        if record.nodes is not None:  # jobs.node_list is TEXT: any length, but PostgreSQL refuses a NUL in it too
            _check_storable("NodeList", record.nodes)
        if not 0 <= record.job_id_raw <= INT64_MAX:
            raise RefusedRecord(RefusalReason.INTEGER_RANGE, f"job id {record.job_id_raw} is beyond a 64-bit integer")
        for name, at in (("Submit", record.submit), ("Start", record.start), ("End", record.end)):
            if at is not None and not self.first_time <= at < self.end_time:
                years = self._years()
                raise RefusedRecord(RefusalReason.TIME, f"{name} {_show(at)} is outside the programme's years {years}")
        if not 0 <= record.elapsed <= self.max_elapsed:
            limit = self.max_elapsed
            reason = f"elapsed {record.elapsed} s is beyond the cluster's maximum run of {limit} s"
            raise RefusedRecord(RefusalReason.ELAPSED, reason)
        total = 0
        for gpu_type, count in record.gpus:
            if not 0 <= count <= self.max_gpus:
                raise RefusedRecord(
                    RefusalReason.GPUS, f"{count} {gpu_type} GPUs is more than the cluster's {self.max_gpus}"
                )
            total += count
        if total > self.max_gpus:
            raise RefusedRecord(RefusalReason.GPUS, f"{total} GPUs is more than the cluster's {self.max_gpus}")

    def _years(self) -> str:
        first = datetime.fromtimestamp(self.first_time, UTC).year
        return f"{first}-{datetime.fromtimestamp(self.end_time - 1, UTC).year}"


def _check_storable(name: str, value: str) -> None:
    problem = storable_text(value)
    if problem is not None:
        what = "a NUL byte" if problem is RefusalReason.NUL_BYTE else "text that is not valid UTF-8"
        raise RefusedRecord(problem, f"{name} contains {what}")


def _show(epoch: int) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"epoch {epoch}"


_LENGTHS = {column: _length(column) for _, _, column in _TEXT_FIELDS}
#: The gate without configuration: only what the ledger holds and the built-in ceilings.
DEFAULT_BOUNDS = RecordBounds()


def bounds_for(settings: Settings) -> dict[str, RecordBounds]:
    """Each configured cluster's bounds, keyed by cluster name."""
    programme = settings.programme
    first, end = _year_start(programme.first_year), _year_start(programme.last_year + 1)
    return {
        c.name: RecordBounds(
            max_elapsed=min(c.max_job_seconds or DEFAULT_MAX_JOB_SECONDS, INT32_MAX),
            max_gpus=min(c.gpu_count or DEFAULT_MAX_GPUS, INT32_MAX),
            first_time=first,
            end_time=end,
        )
        for c in settings.clusters
    }
