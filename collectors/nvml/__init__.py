"""The NVML node agent: samples every GPU of a node, attributes it to Slurm jobs, writes hourly aggregates.

One job per module, in the direction data flows:

    device.py       the one narrow interface to NVML (pynvml or fake.FakeNvml): typed readings, errors counted
    fake.py         scenario-driven fake NVML with pynvml's names, handles and real NVMLError classes
    slurm.py        jobs on this node and their GRES indices (scontrol/squeue through an injected runner)
    gres.py         GRES index -> device minor number (gres.conf File=, or [agent] gres_minors)
    procmap.py      pid -> job from /proc/<pid>/cgroup or /proc/<pid>/environ
    attribution.py  Slurm allocation + processes on the GPU -> who holds each GPU (pure)
    aggregate.py    running totals per (job, GPU, hour) and a trailing window; O(GPUs) memory
    spool.py        one atomic, fsync'd file per flush window while the ledger is unreachable
    sink.py         deliver a window: replay the spool, upsert into the ledger, else spool
    pacing.py       random delay before each flush, jittered backoff on a refused connection
    companies.py    cached account -> company mapping for the owner info metric
    counters.py     thread-safe counters the exporter reads
    exporter.py     /metrics: custom Collector on its own registry (dcgm-exporter names)
    agent.py        the steps: start, sample, flush, stop (no loop; injected clock)
    service.py      the process: build from [agent], APScheduler jobs, HTTP server, signals

See ``README.md`` beside this file for metrics, configuration and the ledger table.
"""
