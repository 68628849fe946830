"""The ledger: the single source of truth. Tables in ``models``, writes in ``ingest``/``registry``, reads in
``queries``; ``db`` opens it and checks that its schema is current."""
