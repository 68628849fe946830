"""Small builders shared by tests."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(text: str) -> int:
    """An ISO time without zone, read as UTC, as epoch seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


HEADER = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES"


def sacct_text(*rows: str, header: str = HEADER) -> list[str]:
    """sacct --parsable2 lines (header first) for the parser, one row per argument."""
    return [header, *rows]


def row(
    job_id: str,
    raw: int,
    *,
    submit: str = "2026-11-01T00:00:00",
    start: str = "2026-11-01T00:00:00",
    end: str = "Unknown",
    elapsed: int = 0,
    state: str = "COMPLETED",
    gpus: str = "gres/gpu:h100=1,gres/gpu=1",
    cluster: str = "c1",
    account: str = "acme",
    user: str = "alice",
    partition: str = "gpu",
) -> str:
    """One sacct --parsable2 data line in HEADER's column order."""
    return "|".join(
        [job_id, str(raw), cluster, account, user, partition, state, submit, start, end, str(elapsed), gpus]
    )
