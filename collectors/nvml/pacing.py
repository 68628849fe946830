"""When an agent talks to the ledger: a random delay before each flush, and retries with jittered backoff.

Why: hundreds of agents started together (a cluster boot, a configuration rollout) flush on the same second
every minute. Each flush opens one connection and closes it (the agent holds none between flushes), so what
PostgreSQL sees at once is the number of agents flushing in the same instant; a uniform delay in
``[0, jitter_s]`` before each flush spreads them over that window. A connection that still fails (``too many
clients``, a restart of the server) is retried after a "full jitter" backoff, uniform in ``[0, min(max_s,
base_s·2^attempt)]``, so the retries of many agents do not arrive together either; after the last retry the
window goes to the spool, as before.

Safe to retry: a flush writes absolute values in one transaction, so a second attempt after an unknown outcome
leaves the ledger as one attempt would. The random source and the sleep are injected: tests draw from a
seeded ``random.Random`` and record the delays instead of waiting. ``hurry`` (on SIGTERM) cuts the spread
short, so a stopping agent makes its final flush at once; its retries still back off (a whole cluster shut
down together must not retry in lockstep), a few seconds at most, well inside the unit's stop timeout.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from quotad.collectors.nvml.counters import AgentCounters

__all__ = ["TRANSIENT", "FlushPacing"]

log = logging.getLogger("quotad.agent.pacing")
T = TypeVar("T")

#: Errors worth another attempt: the connection could not be made or was lost (PostgreSQL's "too many
#: clients", a restart, a network cut; SQLite's "database is locked"). Anything else (a missing table, a
#: refused privilege) would fail the same way again and goes to the spool at once.
TRANSIENT: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


class FlushPacing:
    """Bounded random delays around the agent's ledger connections; one instance per agent."""

    def __init__(
        self,
        *,
        jitter_s: float,
        retries: int,
        backoff_s: float = 1.0,
        backoff_max_s: float | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], object] | None = None,
        counters: AgentCounters | None = None,
    ) -> None:
        if jitter_s < 0 or retries < 0 or backoff_s < 0:
            raise ValueError("jitter_s, retries and backoff_s must not be negative")
        self.jitter_s = jitter_s
        self.retries = retries
        self.backoff_s = backoff_s
        #: The longest single backoff: the flush's own jitter window (at least ``backoff_s``), so a retried
        #: flush still ends well inside one flush interval.
        self.backoff_max_s = max(backoff_s, jitter_s) if backoff_max_s is None else backoff_max_s
        self.rng = rng if rng is not None else random.Random()
        self.counters = counters
        self._hurried = threading.Event()
        # production: the spread ends early when hurried; a backoff is short and always waited out
        self._spread_sleep: Callable[[float], object] = sleep if sleep is not None else self._hurried.wait
        self._backoff_sleep: Callable[[float], object] = sleep if sleep is not None else time.sleep

    @classmethod
    def single(cls) -> FlushPacing:
        """No delay and no retry: one attempt (the daemon's ``spool_replay``, which runs on its own schedule)."""
        return cls(jitter_s=0.0, retries=0)

    def spread(self) -> float:
        """Wait a random time in ``[0, jitter_s]`` (nothing once hurried); returns the delay waited."""
        if self._hurried.is_set():
            return 0.0
        delay = self.rng.uniform(0.0, self.jitter_s) if self.jitter_s > 0 else 0.0
        if delay > 0:
            self._spread_sleep(delay)
        return delay

    def backoff(self, attempt: int) -> float:
        """Wait before retry number ``attempt`` (0 for the first): uniform in ``[0, min(max, base·2^attempt)]``."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2**attempt)
        delay = self.rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
        if delay > 0:
            self._backoff_sleep(delay)
        return delay

    def attempt(self, action: Callable[[], T], *, what: str) -> T:
        """Run ``action``; on a transient ledger error retry it up to ``retries`` times after a backoff, then
        raise the last error. ``action`` must be safe to repeat (it opens its own connection and transaction)."""
        for attempt in range(self.retries + 1):
            try:
                return action()
            except TRANSIENT as exc:
                if attempt == self.retries:
                    raise
                if self.counters is not None:
                    self.counters.inc("ledger_retries")
                delay = self.backoff(attempt)
                log.info(
                    "%s: ledger refused (%s); retry %d of %d after %.1fs",
                    what, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
                    attempt + 1, self.retries, delay,
                )
        raise AssertionError("unreachable")  # the loop returns or raises

    def hurry(self) -> None:
        """From now on, no spread (the agent is stopping: its final flush goes at once, a spread under way ends)."""
        self._hurried.set()
