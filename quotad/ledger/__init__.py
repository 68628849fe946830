"""The ledger: the single source of truth. Tables in ``models``, writes in ``ingest``/``registry``, reads in
``queries``; ``db`` opens it and checks that its schema is current."""

# Load every table module in a fixed order (models first, then the modules that add tables to its metadata),
# whichever ledger module a process happens to import first.
from quotad.ledger import models as models
