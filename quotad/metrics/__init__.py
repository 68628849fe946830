"""The Prometheus exporter: a custom collector over the ledger, its metric catalogue and usage cache.

    catalogue   every metric's name, type, labels and meaning (the README table is generated from it)
    snapshot    the usage aggregate (grants, companies, usage cells), cached and refreshed off the scrape
    sources     live reads at each scrape: GPUs allocated and idle, open directives
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
