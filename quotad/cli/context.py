"""What every command shares: the configuration (loaded once, lazily) and the opened ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import Connection, Engine

from quotad.config import Settings, load_config
from quotad.errors import UsageError
from quotad.ledger.db import open_ledger
from quotad.ledger.ingest import sync_clusters
from quotad.render import Format
from quotad.timeutil import epoch_now
from quotad.units import GpuCatalog

__all__ = ["AppState", "FormatOption", "JsonOption", "NowOption", "parse_now", "pick_format", "state"]


@dataclass
class AppState:
    config_path: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_config(self.config_path)
        return self._settings

    @property
    def catalog(self) -> GpuCatalog:
        return GpuCatalog(self.settings.gpu_types)

    def ledger(self) -> Engine:
        """The ledger engine, after checking its schema is current (``db upgrade`` is the only exception)."""
        return open_ledger(self.settings)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction, with the configured clusters mirrored into the ledger first."""
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


def parse_now(text: str | None) -> int:
    """``--now`` as epoch seconds; naive times are UTC."""
    if text is None:
        return epoch_now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now {text!r}: expected an ISO 8601 time such as 2026-11-30T12:00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
