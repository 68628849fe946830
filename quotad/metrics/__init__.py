"""The Prometheus exporter: a custom collector over the ledger, its metric catalogue and usage cache.

    catalogue   every metric's name, type, labels and meaning (the README table is generated from it)
    snapshot    the aggregate refreshed off the scrape: grants, companies, usage cells, GPUs allocated, job types
    sources     live reads at each scrape: GPUs idle (counted per job), open directives, the outbox
    collector   ``LedgerCollector`` and ``build_registry``
"""

from __future__ import annotations

from quotad.metrics.catalogue import CATALOGUE, MetricSpec, metrics_markdown
from quotad.metrics.collector import LedgerCollector, build_registry
from quotad.metrics.snapshot import SnapshotCache, UsageSnapshot

__all__ = [
    "CATALOGUE",
    "LedgerCollector",
    "MetricSpec",
    "SnapshotCache",
    "UsageSnapshot",
    "build_registry",
    "metrics_markdown",
]
