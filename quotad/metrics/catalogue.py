"""Every metric the exporter serves: name, type, labels and meaning, in one table.

Why one table: the collector builds its families from it, ``describe()`` answers from it (so registering
the collector never queries the ledger), and the "Metrics" section of ``deploy/README.md`` is generated from
it and checked by a test, so documentation cannot drift from what is served.

Naming follows Prometheus conventions: base units in the name (``_seconds`` for GPU time and ages,
``_flop`` for normalised compute, ``_timestamp_seconds`` for instants), ``_ratio`` for 0..1 fractions
(a ratio above 1 is an overrun), ``_total`` for counters, and no unit conversions beyond the ledger's
integers (GPU-hours and EFLOPS are the dashboard's job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

__all__ = ["CATALOGUE", "MetricSpec", "metrics_markdown", "spec"]

_GRANT = ("company", "cluster", "gpu_type", "grant")
_CELL = ("company", "cluster", "gpu_type")
_COLLECTOR = ("cluster", "source")
_JOB = ("daemon_job",)
_SLURM_JOB = ("company", "cluster", "job_id", "user")
_POOL = ("cluster", "gpu_type")
_POOL_WINDOW = ("cluster", "gpu_type", "window")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Literal["gauge", "counter"]
    labels: tuple[str, ...]
    help: str

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        """A new, empty family for one scrape (prometheus-client strips ``_total`` from a counter's name)."""
        if self.kind == "counter":
            return CounterMetricFamily(self.name, self.help, labels=list(self.labels))
        return GaugeMetricFamily(self.name, self.help, labels=list(self.labels))


CATALOGUE: tuple[MetricSpec, ...] = (
    # Grants: one series per active grant, labelled with its scope as the ledger stores it.
    MetricSpec(
        "quotad_grant_gpu_seconds", "gauge", _GRANT,
        'Active grant in GPU-seconds, for grants of one GPU type (cluster="*" is a pool grant).',
    ),
    MetricSpec(
        "quotad_grant_flop", "gauge", _GRANT,
        'Active grant in peak dense BF16 FLOP, for every grant (gpu_type="*" is a normalised grant).',
    ),
    MetricSpec(
        "quotad_grant_used_ratio", "gauge", _GRANT,
        "Use charged in the grant's scope since its period start, over the grant, in the grant's unit.",
    ),
    MetricSpec(
        "quotad_grant_projected_ratio", "gauge", _GRANT,
        "Projected use at the grant's period end (used + trailing 7-day rate x time left), over the grant.",
    ),
    MetricSpec("quotad_grant_start_timestamp_seconds", "gauge", _GRANT, "Start of the grant's period (epoch)."),
    MetricSpec("quotad_grant_end_timestamp_seconds", "gauge", _GRANT, "End of the grant's period (epoch, exclusive)."),
    # Companies, as `quotad status` shows them.
    MetricSpec("quotad_company_info", "gauge", ("company", "name_en", "name_ja"), "Registered company (always 1)."),
    MetricSpec(
        "quotad_company_used_ratio", "gauge", ("company",),
        "Use over grant across the company's active grants, each usage counted once (as `quotad status`).",
    ),
    MetricSpec(
        "quotad_company_projected_ratio", "gauge", ("company",),
        "Projected use at the end of the company's active grants over the grant (as `quotad status`).",
    ),
    # Usage cells: company x cluster x GPU type.
    MetricSpec(
        "quotad_gpu_used_seconds", "gauge", _CELL,
        "GPU-seconds charged since the start of the company's earliest active grant period.",
    ),
    MetricSpec(
        "quotad_gpus_allocated", "gauge", _CELL,
        "GPUs held by the company's running jobs at the last Slurm poll (from the usage aggregate: at most one "
        "metrics_refresh, 30 s by default, behind the poll)."
    ),
    MetricSpec(
        "quotad_gpus_idle", "gauge", _CELL,
        "Allocated GPUs idle at their last NVML sample (only where the node agent reports; read at each scrape).",
    ),
    MetricSpec(
        "quotad_slurm_job_gpus_idle", "gauge", _SLURM_JOB, "Allocated GPUs of one running job idle at the last sample."
    ),
    MetricSpec(
        "quotad_slurm_job_idle_seconds", "gauge", _SLURM_JOB,
        "Longest current idle streak among the job's idle GPUs, in seconds.",
    ),
    MetricSpec(
        "quotad_gpu_type_peak_flops", "gauge", ("gpu_type",),
        "Peak dense BF16 FLOP/s of one GPU of this type ([gpu_types]); multiply GPU-seconds by it for FLOP.",
    ),
    # The pool: reserved capacity against what companies were allocated (quotad pool status).
    MetricSpec("quotad_pool_gpus_reserved", "gauge", _POOL, "GPUs reserved from providers now."),
    MetricSpec("quotad_pool_gpus_in_maintenance", "gauge", _POOL, "Reserved GPUs inside a maintenance window now."),
    MetricSpec(
        "quotad_pool_reserved_gpu_seconds", "gauge", _POOL_WINDOW,
        'Reserved GPU-seconds so far in the window (window="today" or "month", programme time zone).',
    ),
    MetricSpec(
        "quotad_pool_maintenance_gpu_seconds", "gauge", _POOL_WINDOW,
        "Reserved GPU-seconds lost to maintenance so far in the window.",
    ),
    MetricSpec(
        "quotad_pool_allocated_gpu_seconds", "gauge", _POOL_WINDOW,
        "GPU-seconds allocated to jobs on programme partitions so far in the window.",
    ),
    MetricSpec(
        "quotad_pool_unallocated_gpu_seconds", "gauge", _POOL_WINDOW,
        "Reserved (paid) GPU-seconds outside maintenance that no job was allocated, so far in the window.",
    ),
    MetricSpec(
        "quotad_pool_busy_gpu_seconds", "gauge", _POOL_WINDOW,
        "Allocated GPU-seconds the node agents saw busy (only where agents report).",
    ),
    MetricSpec(
        "quotad_pool_snapshot_timestamp_seconds", "gauge", (),
        "When the pool figures behind the quotad_pool_* metrics were computed (epoch).",
    ),
    # Directives.
    MetricSpec(
        "quotad_directives_open", "gauge", ("policy", "severity"), "Directives open now, by policy and severity."
    ),
    # Collectors, from the ledger's collector_state (durable across daemon restarts).
    MetricSpec(
        "quotad_collector_last_success_timestamp_seconds", "gauge", _COLLECTOR,
        "When the collector last completed a poll of the cluster (epoch).",
    ),
    MetricSpec(
        "quotad_collector_last_duration_seconds", "gauge", _COLLECTOR, "Duration of the collector's last poll."
    ),
    MetricSpec("quotad_collector_polls_total", "counter", _COLLECTOR, "Polls attempted by the collector."),
    MetricSpec("quotad_collector_errors_total", "counter", _COLLECTOR, "Polls that failed and wrote nothing."),
    MetricSpec(
        "quotad_collector_refused_lines_total", "counter", ("cluster", "reason"),
        "Accounting lines the daemon's polls refused (quarantined, not charged), by cluster and reason "
        "(see quotad.errors.RefusalReason: unknown_cluster, malformed, too_long, implausible_gpus, ...); "
        "0 for every configured cluster.",
    ),
    MetricSpec(
        "quotad_unclaimed_gpu_seconds", "gauge", ("cluster", "account", "gpu_type"),
        "GPU-seconds charged in the last 30 days to accounts no company claims (kept, charged to nobody).",
    ),
    # The outbox (mail), from the ledger.
    MetricSpec("quotad_outbox_messages", "gauge", ("state",), "Outbox messages by state (queued, sending, sent ...)."),
    MetricSpec(
        "quotad_outbox_failing_messages", "gauge", (),
        "Messages still undelivered after 3 or more attempts (mail that keeps failing; /healthz is degraded).",
    ),
    # The daemon's scheduled jobs (this process).
    MetricSpec(
        "quotad_daemon_job_last_success_timestamp_seconds", "gauge", _JOB, "When the job last succeeded (epoch)."
    ),
    MetricSpec("quotad_daemon_job_last_duration_seconds", "gauge", _JOB, "Duration of the job's last run."),
    MetricSpec(
        "quotad_daemon_job_success_age_seconds", "gauge", _JOB,
        "Seconds since the job last succeeded here, or was last left to the other daemon holding it (since it "
        "was scheduled, if neither); /healthz compares it.",
    ),
    MetricSpec(
        "quotad_daemon_job_stale_after_seconds", "gauge", _JOB,
        "Allowed staleness: the success age above which /healthz answers 503.",
    ),
    MetricSpec("quotad_daemon_job_runs_total", "counter", _JOB, "Runs of the job since the daemon started."),
    MetricSpec("quotad_daemon_job_errors_total", "counter", _JOB, "Runs that raised (logged with a traceback)."),
    MetricSpec(
        "quotad_daemon_job_skipped_total", "counter", _JOB,
        "Runs left to another daemon on the same PostgreSQL ledger, which held the job's lock.",
    ),
    MetricSpec(
        "quotad_daemon_problems", "gauge", ("check", "subject", "reason"),
        "Findings that make /healthz degraded now (check: refused_lines, outbox_failing; subject: the cluster "
        "or outbox), valued by the lines refused at the last poll or the messages failing.",
    ),
    # The exporter itself.
    MetricSpec(
        "quotad_usage_snapshot_timestamp_seconds", "gauge", (),
        "When the usage aggregate behind the grant, company, usage and GPUs-allocated metrics was computed (epoch).",
    ),
    MetricSpec("quotad_ledger_up", "gauge", (), "1 when this scrape could read the ledger, else 0."),
    MetricSpec("quotad_build_info", "gauge", ("version",), "quotad's version (always 1)."),
)

_BY_NAME = {s.name: s for s in CATALOGUE}


def spec(name: str) -> MetricSpec:
    return _BY_NAME[name]


def metrics_markdown() -> str:
    """The "Metrics" table of deploy/README.md (a test checks the README holds exactly this)."""
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for s in CATALOGUE:
        labels = ", ".join(f"`{label}`" for label in s.labels) or "—"
        lines.append(f"| `{s.name}` | {s.kind} | {labels} | {s.help.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
