"""Account -> company, from the ledger's registry, cached so a scrape never waits on the database.

Why cached and refreshed on a timer: ``/metrics`` is scraped every few seconds from a thread that must not
block, and the mapping changes only when an operator registers an account. A failed refresh keeps the last
good mapping (and counts the failure); unknown accounts export ``company=""``. Only ``company_accounts`` is
read (``quotad.ledger.queries.account_companies``): the agent's database role may read nothing else of the
registry (``quotad db roles``).
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from quotad.collectors.nvml.counters import AgentCounters
from quotad.ledger.queries import account_companies

__all__ = ["CompanyDirectory"]

log = logging.getLogger("quotad.agent.companies")


class CompanyDirectory:
    """The account -> company mapping of one cluster."""

    def __init__(self, engine: Engine | None, *, cluster: str, counters: AgentCounters) -> None:
        self.engine = engine
        self.cluster = cluster
        self.counters = counters
        self._by_account: dict[str, str] = {}

    def refresh(self, conn: Connection | None = None) -> bool:
        """Reload the mapping, on ``conn`` or else a connection of its own; False (old mapping kept) when the
        ledger cannot be read."""
        if self.engine is None:
            return False
        try:
            if conn is not None:  # the caller's connection and transaction (the agent's start-up session)
                self._by_account = account_companies(conn, self.cluster)
            else:
                with self.engine.connect() as own:
                    self._by_account = account_companies(own, self.cluster)
        except SQLAlchemyError as exc:
            self.counters.inc("company_refresh_failures")
            log.warning("cannot refresh account->company mapping: %s", str(exc).splitlines()[0][:200])
            return False
        return True

    def company_of(self, account: str) -> str:
        return self._by_account.get(account, "")
