"""``quotad run``: the long-running process that schedules jobs and serves /metrics and /healthz.

    config      ``[daemon]`` models (listen address, pool size, per-job schedules)
    jobs        the job registry (named callables with interval and allowed staleness) and built-in jobs
    scheduler   APScheduler wiring: no overlap, coalesced misses, a failing job logged and retried
    health      per-job last success/failure/skip, for /healthz and the exporter
    joblock     PostgreSQL advisory lock per job: with two daemons on one ledger, each job runs on one of them
    instance    one daemon per SQLite ledger (a flock'd ``<ledger>.run-lock``)
    server      the HTTP listener (/metrics, /healthz) on one port
    signals     SIGTERM/SIGINT stop, SIGHUP reload, delivered to the main loop through a queue
    logs        human and JSON-lines log formatting
    service     ``Daemon``: start, reload, stop; ``run_daemon`` is what the CLI calls

Nothing is imported here, so importing a submodule never drags in the scheduler or the HTTP server.
"""
