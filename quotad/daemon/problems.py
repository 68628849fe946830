"""What the daemon's jobs found wrong with the data while succeeding: refused lines, failing mail.

Why apart from ``health``: a job can succeed every time and still lose usage. A Slurm poll whose slurmdbd
names its cluster differently from the configuration refuses every line, commits, and is "healthy" by job
health alone; so does an outbox job whose SMTP server refuses every message. Each job therefore reports
what it found here after each run, keyed by (check, subject); ``/healthz`` answers ``degraded`` while any
finding stands, and the exporter serves the refusal counters (``quotad_collector_refused_lines_total``).

A finding is replaced by the next run of the job that reported it: a poll that refuses nothing clears its
cluster's refusals, so health comes back by itself once the cause is fixed. Counters only grow (per
process; Prometheus' ``increase()`` handles a daemon restart).

Thread-safe: jobs report from worker threads while HTTP threads read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quotad.errors import InputError, RefusalReason

__all__ = ["Check", "Problem", "Problems"]


class Check:
    """The kinds of finding (the ``check`` of a ``Problem``): a small fixed set, like the refusal reasons."""

    REFUSED_LINES = "refused_lines"
    OUTBOX_FAILING = "outbox_failing"


@dataclass(frozen=True)
class Problem:
    """One standing finding: which check, about what (a cluster, "outbox"), why, how many, one example."""

    check: str
    subject: str
    reason: str
    count: int
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "check": self.check,
            "subject": self.subject,
            "reason": self.reason,
            "count": self.count,
            "detail": self.detail,
        }


#: An example line's reason is shown in /healthz; a long one (a whole sacct line) is cut here.
_DETAIL_CHARS = 300


class Problems:
    """Standing findings by (check, subject) and the refused-line counters by (cluster, reason)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._standing: dict[tuple[str, str], tuple[Problem, ...]] = {}
        self._refused: dict[tuple[str, RefusalReason], int] = {}

    def count_refused(self, cluster: str, reason: RefusalReason, lines: int) -> None:
        """Add ``lines`` refused lines of ``cluster`` for ``reason`` (the one way refusals are counted)."""
        if lines <= 0:
            return
        with self._lock:
            key = (cluster, reason)
            self._refused[key] = self._refused.get(key, 0) + lines

    def poll_refusals(
        self, cluster: str, refused: Mapping[RefusalReason, int], examples: Iterable[InputError] = ()
    ) -> None:
        """A poll of ``cluster`` finished: count its refusals and let them stand until its next poll."""
        first: dict[RefusalReason, str] = {}
        for error in examples:
            first.setdefault(error.refusal, str(error))
        standing = []
        for reason, lines in sorted(refused.items()):
            self.count_refused(cluster, reason, lines)
            if lines > 0:
                detail = first.get(reason, "")[:_DETAIL_CHARS]
                standing.append(Problem(Check.REFUSED_LINES, cluster, reason.value, lines, detail))
        self.set(Check.REFUSED_LINES, cluster, standing)

    def set(self, check: str, subject: str, problems: Iterable[Problem]) -> None:
        """Replace what ``check`` found about ``subject`` (an empty list clears it)."""
        found = tuple(problems)
        with self._lock:
            if found:
                self._standing[(check, subject)] = found
            else:
                self._standing.pop((check, subject), None)

    def keep_only(self, check: str, subjects: Iterable[str]) -> None:
        """Drop ``check``'s findings about anything not in ``subjects`` (a cluster removed by a reload)."""
        keep = set(subjects)
        with self._lock:
            for key in [k for k in self._standing if k[0] == check and k[1] not in keep]:
                del self._standing[key]

    def standing(self) -> list[Problem]:
        with self._lock:
            return [p for key in sorted(self._standing) for p in self._standing[key]]

    def refused_totals(self) -> dict[tuple[str, RefusalReason], int]:
        with self._lock:
            return dict(self._refused)
