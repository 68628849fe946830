"""Maintenance windows from Slurm: ``scontrol show reservation --oneliner`` parsed, MAINT reservations kept.

Why from the scheduler: a provider that announces maintenance by creating a Slurm reservation with the MAINT
flag has already told the one system that enforces it; importing it avoids typing it twice. Only reservations
with ``MAINT`` in ``Flags`` become windows (others are ordinary reservations for users).

The text is parsed here and obtained by the caller (the CLI runs ``scontrol`` through
``quotad.enforce.sacctmgr``), so this module stays free of subprocesses. Times are epoch seconds when
``SLURM_TIME_FORMAT=%s`` is set (what ``scontrol_argv`` callers should pass), otherwise
local ``YYYY-MM-DDTHH:MM:SS`` in the cluster's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from quotad.errors import InputError
from quotad.pool.maintenance import MaintenanceSpec, SyncResult, sync_windows

__all__ = ["SCONTROL_ENV", "import_scontrol_reservations", "parse_reservations", "scontrol_args"]

#: Environment for the scontrol run: epoch times, whatever the controller's zone.
SCONTROL_ENV = {"SLURM_TIME_FORMAT": "%s", "TZ": "UTC"}
_NONE = frozenset({"", "(null)", "None", "n/a"})


def scontrol_args() -> list[str]:
    """The arguments after ``scontrol`` (and ``-M cluster``): one reservation per line."""
    return ["show", "reservation", "--oneliner"]


def _fields(line: str) -> dict[str, str]:
    """``Key=Value`` tokens of one reservation line; a token without '=' continues the previous value."""
    out: dict[str, str] = {}
    last = ""
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep and key:
            out[key] = value
            last = key
        elif last:
            out[last] += " " + token
    return out


def _epoch(value: str, zone: ZoneInfo, what: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is neither epoch seconds nor YYYY-MM-DDTHH:MM:SS") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp())


def parse_reservations(
    lines: Iterable[str], *, cluster: str, timezone: str, source: str = "scontrol"
) -> list[MaintenanceSpec]:
    """MAINT reservations as Slurm-sourced windows; a malformed reservation line raises ``InputError``."""
    zone = ZoneInfo(timezone)
    out = []
    for line_no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("No reservations"):
            continue
        fields = _fields(line)
        name = fields.get("ReservationName")
        if not name:
            raise InputError(
                "expected a ReservationName= line (scontrol --oneliner)", source=source, line_no=line_no, line=line
            )
        flags = {f.strip().upper() for f in fields.get("Flags", "").split(",")}
        if "MAINT" not in flags:
            continue
        try:
            start = _epoch(fields.get("StartTime", ""), zone, "StartTime")
            end = _epoch(fields.get("EndTime", ""), zone, "EndTime")
            count = fields.get("NodeCnt", "")
            node_count = int(count) if count.isdigit() and int(count) > 0 else None
        except ValueError as exc:
            raise InputError(f"reservation {name}: {exc}", source=source, line_no=line_no, line=line) from exc
        if end <= start:
            raise InputError(
                f"reservation {name}: EndTime is not after StartTime", source=source, line_no=line_no, line=line
            )
        nodes = fields.get("Nodes", "")
        out.append(
            MaintenanceSpec(
                cluster=cluster,
                start=start,
                end=end,
                source="slurm",
                reference=name,
                node_count=node_count,
                nodes="" if nodes in _NONE else nodes,
                reason=f"Slurm reservation {name} (Flags={fields.get('Flags', '')})",
            )
        )
    return out


def import_scontrol_reservations(conn: Connection, *, cluster: str, timezone: str, text: str, now: int) -> SyncResult:
    """Reconcile the cluster's Slurm-sourced windows with ``scontrol`` output, in the caller's transaction."""
    specs = parse_reservations(text.splitlines(), cluster=cluster, timezone=timezone, source=f"scontrol:{cluster}")
    return sync_windows(conn, cluster, "slurm", specs, now=now)
