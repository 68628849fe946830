"""The exception hierarchy every quotad module raises.

    QuotadError                  root: catch this to handle anything quotad raised on purpose
    ├── ConfigError              the configuration file, an env override or a secret is invalid (exit 2)
    ├── UsageError               a command was given arguments that cannot be acted on (exit 2)
    │   └── NotFoundError        a named company, grant, cluster ... does not exist (exit 2)
    ├── SchemaError              the ledger is missing or its schema is not at the code's revision (exit 2)
    ├── InputError               one record of external input (a sacct line ...) is malformed
    └── LedgerError              the database refused or failed a read or write (exit 1)

Dependency errors (SQLAlchemy, pydantic, subprocess) are wrapped at the boundary with ``raise ... from exc``
so callers never need to import a dependency to handle a quotad failure. Context travels as attributes.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConfigError",
    "InputError",
    "LedgerError",
    "NotFoundError",
    "QuotadError",
    "RefusalReason",
    "RefusedValue",
    "SchemaError",
    "UsageError",
    "refusal_of",
]


class QuotadError(Exception):
    """Root of every error quotad raises deliberately; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class ConfigError(QuotadError):
    """Configuration is invalid; ``problems`` holds one human-readable line per bad key."""

    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        detail = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(message + detail)


class UsageError(QuotadError):
    """The request itself cannot be acted on (bad argument combination, bad value)."""

    exit_code = 2


class NotFoundError(UsageError):
    """A named object does not exist; ``kind`` and ``name`` say which."""

    def __init__(self, kind: str, name: str, *, hint: str = "") -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"no {kind} named {name!r}" + (f" ({hint})" if hint else ""))


class SchemaError(QuotadError):
    """The ledger schema is missing or not at the revision this code expects."""

    exit_code = 2


class RefusalReason(StrEnum):
    """Why a line was refused, as a small fixed set (a metric label: never free text).

    The free-text ``InputError.reason`` says exactly what was wrong; this says which kind of wrong, so
    ``quotad_collector_refused_lines_total{cluster,reason}`` and ``ingest_errors.code`` stay a few values. A new
    kind is one member here plus ``refusal=`` where a parser or the gate (``quotad.ledger.bounds``) refuses it;
    anything untagged counts as ``invalid``.
    """

    #: The record names a cluster quotad is not configured for (e.g. slurmdbd's ClusterName differs).
    UNKNOWN_CLUSTER = "unknown_cluster"
    #: A GPU type that ``[gpu_types]`` does not know.
    UNKNOWN_GPU_TYPE = "unknown_gpu_type"
    #: The line's shape is wrong (field count, header, truncated record).
    MALFORMED = "malformed"
    #: Any other unreadable value (a time, a number, a state).
    INVALID = "invalid"
    #: Text the ledger cannot store: a NUL byte, text that is not valid UTF-8, longer than its column.
    NUL_BYTE = "nul_byte"
    ENCODING = "encoding"
    TOO_LONG = "too_long"
    #: Beyond the ledger's 64-bit (or 32-bit) integers.
    INTEGER_RANGE = "integer_range"
    #: Outside the plausibility bounds of the configuration: run length, GPUs per job, the programme's years.
    ELAPSED = "implausible_elapsed"
    GPUS = "implausible_gpus"
    TIME = "implausible_time"
    #: The database refused the record all the same (an isolated write after a failed poll).
    LEDGER = "ledger_refused"


class InputError(QuotadError):
    """One input record is malformed; ``line_no`` is 1-based within ``source``, ``line`` is its text.

    ``refusal`` is the reason's kind, for metrics and ``ingest_errors.code`` (``INVALID`` when the raiser did not
    say).
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str = "",
        line_no: int = 0,
        line: str = "",
        refusal: RefusalReason = RefusalReason.INVALID,
    ) -> None:
        self.reason = reason
        self.source = source
        self.line_no = line_no
        self.line = line
        self.refusal = refusal
        where = f"{source}:{line_no}: " if source else ""
        super().__init__(where + reason)

    @property
    def code(self) -> str:
        """The refusal's kind as stored in ``ingest_errors.code``."""
        return self.refusal.value


class RefusedValue(ValueError):
    """A parser's ``ValueError`` that says which ``RefusalReason`` it is (caught where lines become errors)."""

    def __init__(self, refusal: RefusalReason, message: str) -> None:
        self.refusal = refusal
        super().__init__(message)


def refusal_of(exc: BaseException) -> RefusalReason:
    """The ``RefusalReason`` an exception carries, ``INVALID`` when it carries none."""
    found = getattr(exc, "refusal", None)
    return found if isinstance(found, RefusalReason) else RefusalReason.INVALID


class LedgerError(QuotadError):
    """The database failed; the transaction was rolled back and nothing was written."""
