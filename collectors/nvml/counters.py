"""Thread-safe error and event counters, read by the exporter at scrape time.

Why a class and not prometheus ``Counter`` objects: the agent's registry holds one custom collector that builds
every family fresh at each scrape; these counters are plain data it reads, so the sampling code stays free of
prometheus imports and the tests can assert on them directly.
"""

from __future__ import annotations

import threading

__all__ = ["AgentCounters", "CounterKey"]

#: (counter name, sorted label pairs)
CounterKey = tuple[str, tuple[tuple[str, str], ...]]


class AgentCounters:
    """Monotonic counters keyed by name and labels; ``snapshot`` returns a consistent copy."""

    def __init__(self) -> None:
        self._values: dict[CounterKey, int] = {}
        self._lock = threading.Lock()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def get(self, name: str, **labels: str) -> int:
        """One counter's value; without labels, the sum over all label sets of ``name``."""
        with self._lock:
            if labels:
                return self._values.get((name, tuple(sorted(labels.items()))), 0)
            return sum(v for (n, _), v in self._values.items() if n == name)

    def snapshot(self) -> dict[CounterKey, int]:
        with self._lock:
            return dict(self._values)
