"""Parse one line of a PBS Professional accounting log into a typed ``PbsEntry``.

The documented record layout is ``MM/DD/YYYY HH:MM:SS;T;ID;MESSAGE``: the server's local time, a one-letter
record type, the job id (``123.server``, array subjob ``123[4].server``, array parent ``123[].server``) and a
message of space-separated ``key=value`` pairs. A value containing spaces is quoted with ``"`` (or ``'`` when it
contains a ``"``); ``account`` is always quoted. Epoch attributes (``ctime``, ``qtime``, ``start``, ``end``) are
UTC seconds, ``0`` meaning "never"; durations (``resources_used.walltime``) are ``[[H:]M:]S``. The hosts a job
ran on come from ``exec_host`` (``g001/0*96+g002/0*96``), else from ``exec_vnode`` (``(g001:ncpus=96)+(g002[1]:...)``,
a vnode ``host[N]`` standing for its host).

Only the job record types quotad charges from are parsed (E ended, R rerun, S started, D deleted, A aborted);
the others (Q queued, reservation records, licensing ...) are skipped — ``parse_line`` returns None for them.
Everything else wrong in a line is a ``ValueError`` with the reason, which the caller turns into an
``InputError`` with file and line number.

Why not ``pbsparse``: it splits the message on whitespace (a quoted value with a space breaks the line), raises
on a token without ``=`` instead of reporting the line, turns times into naive local datetimes, weighs a
two-part duration as hours:minutes, and copies arbitrary keys onto the record object with ``setattr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["CHARGED_TYPES", "PbsEntry", "exec_nodes", "parse_duration", "parse_line", "parse_message", "select_gpus"]

#: Record types quotad reads; every other type is skipped without complaint.
CHARGED_TYPES = frozenset("ERSDA")
_JOB_ID = re.compile(r"^(\d+)(?:\[(\d*)\])?(?:\.(\S+))?$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STAMP = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class PbsEntry:
    """One job record; optional fields are None when the record type does not carry them."""

    line_no: int
    logged_at: int
    record_type: str
    job_id: str
    sequence: int
    #: The subjob index of an array subjob, else None.
    array_index: int | None
    user: str
    group: str
    project: str
    account: str
    queue: str
    ctime: int | None
    qtime: int | None
    start: int | None
    end: int | None
    walltime_used: int | None
    walltime_limit: int | None
    #: GPUs requested (``Resource_List.ngpus`` or summed over the ``select`` chunks); None when neither is given.
    gpus: int | None
    #: A ``Resource_List.gpu_type`` when the site defines one (lower-cased), else None.
    gpu_type: str | None
    exit_status: int | None
    run_count: int | None
    #: The hosts it ran on as a hostlist (``g001,g002``), or None when the record names none.
    nodes: str | None = None


def parse_message(message: str) -> dict[str, str]:
    """``key=value`` pairs of a record message; quoted values keep their spaces. ``ValueError`` on a bad quote."""
    out: dict[str, str] = {}
    i, n = 0, len(message)
    while i < n:
        while i < n and message[i] in " \t":
            i += 1
        if i >= n:
            break
        eq = message.find("=", i)
        space = message.find(" ", i)
        if eq < 0 or (0 <= space < eq):
            # A bare word (some record types carry free text): skipped, it carries no attribute.
            i = n if space < 0 else space
            continue
        key = message[i:eq]
        j = eq + 1
        if j < n and message[j] in "\"'":
            quote = message[j]
            close = message.find(quote, j + 1)
            if close < 0:
                raise ValueError(f"attribute {key!r}: opening {quote} without a closing one")
            out[key] = message[j + 1 : close]
            i = close + 1
        else:
            stop = message.find(" ", j)
            stop = n if stop < 0 else stop
            out[key] = message[j:stop]
            i = stop
    return out


def parse_duration(text: str, what: str) -> int:
    """``[[H:]M:]S[.fraction]`` (hours unbounded) to whole seconds."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"{what} {text!r}: expected [[HH:]MM:]SS")
    seconds_text, _, fraction = parts[-1].partition(".")
    numbers = [*parts[:-1], seconds_text]
    if not all(p.isdigit() for p in numbers) or (fraction and not fraction.isdigit()):
        raise ValueError(f"{what} {text!r}: expected [[HH:]MM:]SS")
    values = [int(p) for p in numbers]
    if len(values) > 1 and any(v >= 60 for v in values[1:]):
        raise ValueError(f"{what} {text!r}: minutes and seconds must be below 60")
    total = 0
    for value in values:
        total = total * 60 + value
    return total


def select_gpus(select: str) -> int:
    """GPUs of a ``select`` statement: Σ chunk count × ``ngpus`` (``2:ngpus=8+1:ncpus=4`` -> 16)."""
    total = 0
    for chunk in select.split("+"):
        parts = chunk.split(":")
        count = 1
        if parts and parts[0].isdigit():
            count = int(parts[0])
            parts = parts[1:]
        for part in parts:
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"select chunk {chunk!r}: {part!r} is not resource=value")
            if name == "ngpus":
                if not value.isdigit():
                    raise ValueError(f"select chunk {chunk!r}: ngpus {value!r} is not a whole number")
                total += count * int(value)
    return total


def exec_nodes(attrs: dict[str, str]) -> str | None:
    """The distinct hosts of ``exec_host`` (else ``exec_vnode``) in order, comma-joined; None if neither is given."""
    exec_host = attrs.get("exec_host")
    if exec_host:
        hosts = [chunk.split("/", 1)[0] for chunk in exec_host.split("+")]
    else:
        exec_vnode = attrs.get("exec_vnode")
        if not exec_vnode:
            return None
        vnodes = [chunk.strip().removeprefix("(").removesuffix(")").split(":", 1)[0] for chunk in exec_vnode.split("+")]
        hosts = [re.sub(r"\[\d+\]$", "", vnode) for vnode in vnodes]
    names = list(dict.fromkeys(h for h in hosts if h))
    bad = [h for h in names if not _HOST.match(h)]
    if bad:
        raise ValueError(f"exec_host/exec_vnode host name {bad[0]!r} is not a host name")
    return ",".join(names) or None


def _epoch_attr(attrs: dict[str, str], key: str) -> int | None:
    value = attrs.get(key)
    if value is None or value in ("", "0"):
        return None
    if not value.isdigit():
        raise ValueError(f"{key} {value!r} is not epoch seconds")
    return int(value)


def _int_attr(attrs: dict[str, str], key: str) -> int | None:
    value = attrs.get(key)
    if value is None or value == "":
        return None
    if not value.lstrip("-").isdigit():
        raise ValueError(f"{key} {value!r} is not a whole number")
    return int(value)


def _gpus(attrs: dict[str, str]) -> int | None:
    ngpus = attrs.get("Resource_List.ngpus")
    if ngpus is not None:
        if not ngpus.isdigit():
            raise ValueError(f"Resource_List.ngpus {ngpus!r} is not a whole number")
        return int(ngpus)
    select = attrs.get("Resource_List.select")
    return select_gpus(select) if select else None


def _logged_at(stamp: str, zone: ZoneInfo) -> int:
    match = _STAMP.match(stamp)
    if not match:
        raise ValueError(f"timestamp {stamp!r}: expected MM/DD/YYYY HH:MM:SS")
    month, day, year, hour, minute, second = (int(g) for g in match.groups())
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        raise ValueError(f"timestamp {stamp!r} is not a valid time") from None
    return int(local.timestamp())


def parse_line(line: str, line_no: int, zone: ZoneInfo) -> PbsEntry | None:
    """One accounting line (without its newline) to an entry; None for record types quotad does not read."""
    fields = line.split(";", 3)
    if len(fields) < 3:
        raise ValueError("expected MM/DD/YYYY HH:MM:SS;TYPE;ID;MESSAGE")
    stamp, record_type, job_id = fields[0], fields[1], fields[2]
    message = fields[3] if len(fields) == 4 else ""
    logged_at = _logged_at(stamp, zone)
    if len(record_type) != 1:
        raise ValueError(f"record type {record_type!r} is not one letter")
    if record_type not in CHARGED_TYPES:
        return None
    match = _JOB_ID.match(job_id)
    if not match:
        raise ValueError(f"job id {job_id!r}: expected SEQUENCE[.SERVER] or SEQUENCE[INDEX][.SERVER]")
    sequence, index, _server = match.groups()
    if index == "":
        return None  # an array's parent record: its subjobs carry the usage, charging it would count twice
    attrs = parse_message(message)
    walltime = attrs.get("resources_used.walltime")
    limit = attrs.get("Resource_List.walltime")
    gpu_type = attrs.get("Resource_List.gpu_type")
    return PbsEntry(
        line_no=line_no,
        logged_at=logged_at,
        record_type=record_type,
        job_id=job_id,
        sequence=int(sequence),
        array_index=int(index) if index is not None else None,
        user=attrs.get("user", ""),
        group=attrs.get("group", ""),
        project=attrs.get("project", ""),
        account=attrs.get("account", ""),
        queue=attrs.get("queue", ""),
        ctime=_epoch_attr(attrs, "ctime"),
        qtime=_epoch_attr(attrs, "qtime"),
        start=_epoch_attr(attrs, "start"),
        end=_epoch_attr(attrs, "end"),
        walltime_used=parse_duration(walltime, "resources_used.walltime") if walltime else None,
        walltime_limit=parse_duration(limit, "Resource_List.walltime") if limit else None,
        gpus=_gpus(attrs),
        gpu_type=gpu_type.lower() if gpu_type else None,
        exit_status=_int_attr(attrs, "Exit_status"),
        run_count=_int_attr(attrs, "run_count"),
        nodes=exec_nodes(attrs),
    )
