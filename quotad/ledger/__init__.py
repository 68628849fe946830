"""The ledger: the single source of truth. Tables in ``models``, ``telemetry_models`` and ``collector_models``;
the collectors' input contract in ``records``; writes in ``ingest``/``registry``/``telemetry``; every read of
usage, grants and telemetry in ``queries``, ``facts`` and ``telemetry``; ``db`` opens it and checks that its
schema is current."""

# The base tables load first, whichever ledger module a process happens to import first (``quotad.tables``
# loads every table module, for Alembic).
from quotad.ledger import models as models
