"""Every core table, for the one metadata Alembic and the schema tests compare the ledger against.

Each table is defined by the package that owns its meaning (see ARCHITECTURE.md, "Tables and their owners");
this module is the one place that imports them all, so no table module has to import another just to make
it register. Plugins add their own tables when the plugin host loads them.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from quotad.directives import models as directive_models
from quotad.ledger import collector_models, models, telemetry_models
from quotad.ledger.models import Base
from quotad.notify import outbox_models
from quotad.pool import models as pool_models

__all__ = ["TABLE_MODULES", "Base", "metadata"]

#: The core table modules, by owner: the ledger's, the directive engine's, the notifier's and the pool's.
TABLE_MODULES = (models, telemetry_models, collector_models, directive_models, outbox_models, pool_models)

metadata: MetaData = Base.metadata
