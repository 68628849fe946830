"""What one poll of one cluster ingested, for the Slurm and PBS collectors alike."""

from __future__ import annotations

from quotad.ledger.ingest import IngestSummary

__all__ = ["IngestedRuns"]


class IngestedRuns:
    """The ingest runs of one poll (a poll may ingest several windows or files), summed for the CLI and logs.

    A mixin for the collectors' result dataclasses, which declare ``summaries`` among their own fields.
    """

    summaries: list[IngestSummary]

    @property
    def lines_bad(self) -> int:
        return sum(s.lines_bad for s in self.summaries)

    def total(self, attr: str) -> int:
        return sum(int(getattr(s, attr)) for s in self.summaries)
