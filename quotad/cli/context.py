"""What every command shares: the configuration (loaded once, lazily) and the opened ledger.

Light on purpose: the root command line imports this module, so the config model (pydantic), SQLAlchemy and
the ledger are imported only when a command first asks for the settings or the ledger.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from quotad.errors import UsageError
from quotad.timeutil import FIRST_YEAR, LAST_YEAR, epoch_now
from quotad.units import GpuCatalog

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from quotad.config import Settings
    from quotad.render import Format

__all__ = [
    "AppState",
    "FormatOption",
    "JsonOption",
    "NowOption",
    "operator_name",
    "parse_now",
    "pick_choice",
    "pick_format",
    "state",
]


@dataclass
class AppState:
    config_path: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from quotad.config import load_config

            self._settings = load_config(self.config_path)
        return self._settings

    @property
    def catalog(self) -> GpuCatalog:
        return GpuCatalog(self.settings.gpu_types)

    def ledger(self) -> Engine:
        """The ledger engine, after checking its schema is current (``db upgrade`` is the only exception)."""
        from quotad.ledger.db import open_ledger

        return open_ledger(self.settings)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction, with the configured clusters mirrored into the ledger first."""
        from quotad.ledger.ingest import sync_clusters

        with self.ledger().begin() as conn:
            sync_clusters(conn, self.settings)
            yield conn


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table (same as --format json).")
FormatOption = typer.Option("table", "--format", "-f", help="Output format: table, csv, md or json.")
NowOption = typer.Option(None, "--now", help="Evaluate as of this UTC time (ISO 8601) instead of the clock.")


def pick_format(fmt: str, as_json: bool) -> Format:
    chosen = "json" if as_json else fmt
    if chosen not in ("table", "csv", "md", "json"):
        raise UsageError(f"--format {fmt!r}: expected table, csv, md or json")
    return chosen  # type: ignore[return-value]


ChoiceT = TypeVar("ChoiceT", bound=str)


def pick_choice(option: str, value: str, allowed: Sequence[ChoiceT]) -> ChoiceT:
    """``value`` as one of ``allowed`` (typed as the literal it is), else a usage error naming the option."""
    for candidate in allowed:
        if candidate == value:
            return candidate
    raise UsageError(f"{option} {value!r}: expected one of {', '.join(allowed)}")


def operator_name(by: str | None) -> str:
    """Who acts, for audit trails: ``--by``, else the login name (a container without a passwd entry for its
    uid has none: then ``$USER``, else "office")."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "office")


def parse_now(text: str | None) -> int:
    """``--now`` as epoch seconds; naive times are UTC."""
    if text is None:
        return epoch_now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r}: expected an ISO 8601 time such as 2026-11-30T12:00:00") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise UsageError(
            f"--now {text!r}: year {moment.year} is outside the years quotad counts ({FIRST_YEAR}–{LAST_YEAR})"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
