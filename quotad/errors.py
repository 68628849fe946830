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

__all__ = [
    "ConfigError",
    "InputError",
    "LedgerError",
    "NotFoundError",
    "QuotadError",
    "SchemaError",
    "UsageError",
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


class InputError(QuotadError):
    """One input record is malformed; ``line_no`` is 1-based within ``source``, ``line`` is its text.

    ``code`` is one of a small fixed set (``quotad.ledger.bounds.Refusal``) so refusals can be counted by reason.
    """

    def __init__(
        self, reason: str, *, source: str = "", line_no: int = 0, line: str = "", code: str = "malformed"
    ) -> None:
        self.reason = reason
        self.code = code
        self.source = source
        self.line_no = line_no
        self.line = line
        where = f"{source}:{line_no}: " if source else ""
        super().__init__(where + reason)


class LedgerError(QuotadError):
    """The database failed; the transaction was rolled back and nothing was written."""
