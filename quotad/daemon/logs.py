"""Log formatting for the daemon: human lines for a terminal, JSON lines for journald and log shippers.

Why both: an operator reading ``journalctl -u quotad`` wants one readable line per event with the traceback
under it, while Loki/Elasticsearch want one JSON object per line whose fields (job, cluster, duration) can be
filtered without regular expressions. Fields passed as ``extra={...}`` land in the JSON object by name and
are appended ``key=value`` to a human line, so call sites write each fact once.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = ["FIELDS", "HumanFormatter", "JsonFormatter", "LogFormat", "configure_logging"]

LogFormat = Literal["human", "json"]

#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


#: ``extra={"fields": {...}}``: facts a message already states in words. JSON lines carry them as fields of
#: their own; human lines leave them out (the text says it), so a job's summary line stays one short line.
FIELDS = "fields"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_") and k != FIELDS}


def _folded(record: logging.LogRecord) -> dict[str, Any]:
    folded = getattr(record, FIELDS, None)
    return dict(folded) if isinstance(folded, dict) else {}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class HumanFormatter(logging.Formatter):
    """``2026-12-01T09:00:00.123Z INFO quotad.daemon: message key=value`` then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if extra:
            line += f" {extra}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the ``extra`` fields, and ``exc`` (the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in (_fields(record) | _folded(record)).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(fmt: LogFormat, *, level: int | None = None, stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one writing ``fmt`` to ``stream`` (stderr by default).

    ``level`` defaults to the root logger's current level, i.e. what ``--log-level`` already set.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    # APScheduler logs every run at INFO ("Running job ..."); ours says what matters, once.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))
