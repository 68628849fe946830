"""The programme's GPU pool: providers, their contracts, reserved capacity and maintenance windows.

Why a package of its own: the grants in ``quotad.ledger`` say what companies may use; this package says what
the programme pays providers for, so the two can be compared (``check``), and shows how much of it was used
(``view``). Modules, one job each:

    models       the pool's ledger tables (providers, contracts, reserved capacity, maintenance windows)
    money        integer minor units per ISO 4217 currency, parsed and shown at the edge
    registry     typed specs and idempotent writes for providers, contracts and reservations
    maintenance  maintenance windows: writes, ``maintenance_seconds`` for policies, job-overlap findings
    slurm_maint  ``scontrol show reservation`` (MAINT flag) -> maintenance windows
    csv_import   CSV files -> specs, with row-level errors
    capacity     pure arithmetic: reserved and maintenance GPU-seconds per hour
    view         the pool view per day and period (status, report, exporter gauges), on the ledger's reads
    check        grants against reserved capacity
"""
