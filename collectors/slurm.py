"""Slurm accounting into the ledger: sacct text (a file, stdin, or a poll's output) through the shared path."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from collectors.sacct import SacctParser, cluster_views
from quotad.config import Settings
from quotad.ledger.ingest import IngestSummary, load_records, sync_clusters

__all__ = ["ingest_sacct_text"]


def ingest_sacct_text(
    conn: Connection, settings: Settings, lines: Iterable[str], *, source: str, now: int
) -> IngestSummary:
    """Parse and store sacct ``--parsable2`` text in the caller's transaction; refused lines are quarantined."""
    sync_clusters(conn, settings)
    parser = SacctParser(clusters=cluster_views(settings), source=source)
    return load_records(conn, parser.parse(lines), source=source, kind="sacct", now=now)
