"""``/metrics`` of the node agent: a custom Collector on its own ``CollectorRegistry``, built at every scrape.

Per-GPU gauges carry only ``gpu``, ``UUID``, ``modelName`` and ``Hostname`` (dcgm-exporter's label names), so
their series live as long as the GPU, not as long as a job. Who holds a GPU is a separate info metric to
join on::

    quotad_gpu_owner_info{gpu="0",UUID="GPU-…",Hostname="gpu001",job="4242",account="acme",company="acme-ai"} 1

    # utilisation of each company's GPUs
    avg by (company) (quotad_gpu_util * on (UUID) group_left(company, job) quotad_gpu_owner_info)

Names follow dcgm-exporter's fields, so dashboards translate one to one:

=================================================  ==========================================  =========
quotad metric                                      dcgm-exporter field                         unit
=================================================  ==========================================  =========
``quotad_gpu_util``                                ``DCGM_FI_DEV_GPU_UTIL``                    %
``quotad_gpu_mem_copy_util``                       ``DCGM_FI_DEV_MEM_COPY_UTIL``               %
``quotad_gpu_fb_used``                             ``DCGM_FI_DEV_FB_USED``                     MiB
``quotad_gpu_fb_free``                             ``DCGM_FI_DEV_FB_FREE``                     MiB
``quotad_gpu_power_usage``                         ``DCGM_FI_DEV_POWER_USAGE``                 W
``quotad_gpu_total_energy_consumption_total``      ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION``    mJ
``quotad_gpu_sm_clock``                            ``DCGM_FI_DEV_SM_CLOCK``                    MHz
``quotad_gpu_clock_throttle_reasons``              ``DCGM_FI_DEV_CLOCK_THROTTLE_REASONS``      bit mask
``quotad_gpu_xid_errors``                          ``DCGM_FI_DEV_XID_ERRORS``                  last XID
``quotad_gpu_ecc_dbe_vol_total``                   ``DCGM_FI_DEV_ECC_DBE_VOL_TOTAL``           count
=================================================  ==========================================  =========

The energy counter is exposed as a Prometheus counter (hence ``_total``; it restarts when the driver
reloads, which ``rate()`` handles). quotad adds what dcgm-exporter cannot know: ``quotad_gpu_allocated``
(Slurm allocated the GPU to a job), ``quotad_gpu_processes``, ``quotad_gpu_foreign_processes`` (processes
not of the holding job), ``quotad_gpu_idle_streak_seconds``, ``quotad_gpu_recent_util`` and
``quotad_gpu_recent_idle_ratio`` (trailing window), ``quotad_gpu_lost`` and
``quotad_gpu_field_unsupported{field}``; and the agent's health: ``quotad_agent_nvml_errors_total{gpu,field,
error}``, ``quotad_agent_attribution_errors_total{source}``, ``quotad_agent_unattributed_gpus`` (GPUs running
a process of no Slurm job), spool and flush counters and timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from quotad.collectors.nvml.agent import GpuView, NodeView
from quotad.collectors.nvml.counters import AgentCounters

__all__ = ["COUNTERS", "AgentCollector", "build_registry", "unattributed_gpus"]

MIB = 1024 * 1024
GPU_LABELS = ["gpu", "UUID", "modelName", "Hostname"]
OWNER_LABELS = ["gpu", "UUID", "Hostname", "job", "account", "company"]

#: counter name in ``AgentCounters`` -> (metric name without ``_total``, help)
COUNTERS: dict[str, tuple[str, str]] = {
    "samples": ("quotad_agent_samples", "Sampling rounds completed."),
    "nvml_errors": ("quotad_agent_nvml_errors", "NVML calls that failed, by GPU, field and NVML error."),
    "attribution_errors": ("quotad_agent_attribution_errors", "Failed Slurm queries (job discovery/allocation)."),
    "flush_failures": ("quotad_agent_flush_failures", "Flushes the ledger refused or could not be reached for."),
    "ledger_retries": (
        "quotad_agent_ledger_retries",
        "Ledger connections retried after a transient error (too many clients, a restart), with jittered backoff.",
    ),
    "rows_written": ("quotad_agent_rows_written", "Telemetry rows upserted into the ledger."),
    "spool_windows_written": ("quotad_agent_spool_windows_written", "Flush windows written to the local spool."),
    "spool_windows_replayed": ("quotad_agent_spool_windows_replayed", "Spooled windows replayed into the ledger."),
    "spool_dropped_windows": (
        "quotad_agent_spool_dropped_windows",
        "Spooled windows DROPPED because the spool exceeded spool_max_bytes.",
    ),
    "spool_bad_windows": ("quotad_agent_spool_bad_windows", "Spool files that could not be read (moved to *.bad)."),
    "company_refresh_failures": (
        "quotad_agent_company_refresh_failures",
        "Failed reloads of the account->company mapping.",
    ),
    "loop_errors": ("quotad_agent_loop_errors", "Unexpected exceptions in a sampling or flush round."),
}
_UNLABELLED = (
    "samples",
    "flush_failures",
    "ledger_retries",
    "rows_written",
    "spool_windows_written",
    "spool_windows_replayed",
    "spool_dropped_windows",
    "spool_bad_windows",
    "company_refresh_failures",
    "loop_errors",
)


def _gauge(name: str, doc: str, labels: list[str] = GPU_LABELS) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class AgentCollector(Collector):
    """Builds every family from the agent's latest ``NodeView`` and counters at scrape time."""

    def __init__(
        self, *, view: Callable[[], NodeView], counters: AgentCounters, company_of: Callable[[str], str]
    ) -> None:
        self.view = view
        self.counters = counters
        self.company_of = company_of

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        view = self.view()
        yield from self._gpu_families(view)
        yield from self._agent_families(view)
        yield from self._counter_families()

    def _gpu_families(self, view: NodeView) -> Iterator[Metric]:
        util = _gauge("quotad_gpu_util", "GPU utilisation (%), as DCGM_FI_DEV_GPU_UTIL.")
        mem_util = _gauge("quotad_gpu_mem_copy_util", "Memory utilisation (%), as DCGM_FI_DEV_MEM_COPY_UTIL.")
        fb_used = _gauge("quotad_gpu_fb_used", "Frame buffer used (MiB), as DCGM_FI_DEV_FB_USED.")
        fb_free = _gauge("quotad_gpu_fb_free", "Frame buffer free (MiB), as DCGM_FI_DEV_FB_FREE.")
        power = _gauge("quotad_gpu_power_usage", "Power draw (W), as DCGM_FI_DEV_POWER_USAGE.")
        energy = CounterMetricFamily(
            "quotad_gpu_total_energy_consumption",
            "Energy since the driver loaded (mJ), as DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION.",
            labels=GPU_LABELS,
        )
        sm_clock = _gauge("quotad_gpu_sm_clock", "SM clock (MHz), as DCGM_FI_DEV_SM_CLOCK.")
        reasons = _gauge(
            "quotad_gpu_clock_throttle_reasons", "Clock event reasons bit mask, as DCGM_FI_DEV_CLOCK_THROTTLE_REASONS."
        )
        xid = _gauge("quotad_gpu_xid_errors", "Last XID error seen since the agent started, as DCGM_FI_DEV_XID_ERRORS.")
        ecc = _gauge(
            "quotad_gpu_ecc_dbe_vol_total", "Uncorrected volatile ECC errors, as DCGM_FI_DEV_ECC_DBE_VOL_TOTAL."
        )
        procs = _gauge("quotad_gpu_processes", "Compute processes on the GPU.")
        allocated = _gauge("quotad_gpu_allocated", "1 when Slurm allocated this GPU to a job on this node.")
        foreign = _gauge("quotad_gpu_foreign_processes", "Processes on the GPU that are not its holding job's.")
        streak = _gauge("quotad_gpu_idle_streak_seconds", "Seconds the GPU has been idle for its current job.")
        recent = _gauge("quotad_gpu_recent_util", "Mean utilisation (%) over the trailing window.")
        recent_idle = _gauge("quotad_gpu_recent_idle_ratio", "Share of the trailing window the GPU was idle.")
        lost = _gauge("quotad_gpu_lost", "1 when NVML reports the GPU lost.")
        unsupported = _gauge(
            "quotad_gpu_field_unsupported", "1 for each field NVML does not support on the GPU.", [*GPU_LABELS, "field"]
        )
        owner = InfoMetricFamily("quotad_gpu_owner", "The job holding a GPU (join on UUID).", labels=OWNER_LABELS)
        now = int(view.at)
        for g in view.gpus:
            labels = self._labels(g, view.node)
            r = g.reading
            lost.add_metric(labels, 1.0 if r is not None and r.lost else 0.0)
            for field in sorted(g.unsupported):
                unsupported.add_metric([*labels, field], 1.0)
            self._owner(owner, g, view.node)
            allocated.add_metric(labels, 1.0 if any(h.allocated for h in g.ownership.holders) else 0.0)
            primary = g.ownership.primary
            foreign.add_metric(
                labels,
                float(primary.foreign_processes if primary else g.ownership.unattributed_processes),
            )
            if g.track.idle_since is not None:
                streak.add_metric(labels, float(max(0, now - g.track.idle_since)))
            elif r is not None and r.util_gpu is not None:
                streak.add_metric(labels, 0.0)
            if g.track.recent_seconds:
                recent.add_metric(labels, g.track.recent_util_pct_seconds / g.track.recent_seconds)
                recent_idle.add_metric(labels, g.track.recent_idle_seconds / g.track.recent_seconds)
            if r is None or r.lost:
                continue
            if r.util_gpu is not None:
                util.add_metric(labels, float(r.util_gpu))
            if r.util_mem is not None:
                mem_util.add_metric(labels, float(r.util_mem))
            if r.mem_used is not None:
                fb_used.add_metric(labels, r.mem_used // MIB)
                if r.mem_total is not None:
                    fb_free.add_metric(labels, (r.mem_total - r.mem_used) // MIB)
            if r.power_mw is not None:
                power.add_metric(labels, r.power_mw / 1000)
            if r.energy_mj is not None:
                energy.add_metric(labels, float(r.energy_mj))
            if r.sm_clock_mhz is not None:
                sm_clock.add_metric(labels, float(r.sm_clock_mhz))
            if r.clock_reasons is not None:
                reasons.add_metric(labels, float(r.clock_reasons))
            if g.last_xid is not None:
                xid.add_metric(labels, float(g.last_xid))
            if r.ecc_uncorrected is not None:
                ecc.add_metric(labels, float(r.ecc_uncorrected))
            if "processes" not in r.failed and "processes" not in g.unsupported:
                procs.add_metric(labels, float(len(r.processes)))
        yield from (util, mem_util, fb_used, fb_free, power, energy, sm_clock, reasons, xid, ecc, procs)
        yield from (allocated, foreign, streak, recent, recent_idle, lost, unsupported, owner)

    @staticmethod
    def _labels(g: GpuView, node: str) -> list[str]:
        return [str(g.identity.index), g.identity.uuid, g.identity.name, node]

    def _owner(self, family: InfoMetricFamily, g: GpuView, node: str) -> None:
        holders = g.ownership.holders
        allocated = [h for h in holders if h.allocated]
        for h in allocated or holders:
            family.add_metric(
                [str(g.identity.index), g.identity.uuid, node, str(h.job_id), h.account, self.company_of(h.account)],
                {},
            )

    def _agent_families(self, view: NodeView) -> Iterator[Metric]:
        up = GaugeMetricFamily("quotad_agent_nvml_up", "1 when NVML was initialised.", labels=["Hostname"])
        up.add_metric([view.node], 1.0 if view.nvml_up else 0.0)
        yield up
        info = InfoMetricFamily("quotad_agent", "The agent's node, cluster and NVML driver version.")
        info.add_metric([], {"Hostname": view.node, "cluster": view.cluster, "driver_version": view.driver_version})
        yield info
        sample = GaugeMetricFamily("quotad_agent_last_sample_timestamp_seconds", "Epoch of the last sample.")
        sample.add_metric([], view.at)
        yield sample
        if view.last_flush is not None:
            flush = GaugeMetricFamily("quotad_agent_last_flush_timestamp_seconds", "Epoch of the last flush.")
            flush.add_metric([], float(view.last_flush))
            yield flush
        unattributed = GaugeMetricFamily(
            "quotad_agent_unattributed_gpus",
            "GPUs running a process that belongs to no Slurm job (its use is charged to nobody).",
        )
        unattributed.add_metric([], float(unattributed_gpus(view)))
        yield unattributed
        files = GaugeMetricFamily("quotad_agent_spool_windows", "Flush windows waiting in the spool.")
        files.add_metric([], float(view.spool.files))
        yield files
        size = GaugeMetricFamily("quotad_agent_spool_bytes", "Bytes waiting in the spool.")
        size.add_metric([], float(view.spool.bytes))
        yield size

    def _counter_families(self) -> Iterator[Metric]:
        snapshot = self.counters.snapshot()
        families: dict[str, CounterMetricFamily] = {}
        for name in _UNLABELLED:
            metric, doc = COUNTERS[name]
            families[name] = CounterMetricFamily(metric, doc, labels=[])
        for (name, labels), value in sorted(snapshot.items()):
            if name not in COUNTERS:
                continue
            family = families.get(name)
            if family is None:
                metric, doc = COUNTERS[name]
                family = families[name] = CounterMetricFamily(metric, doc, labels=[k for k, _ in labels])
            family.add_metric([v for _, v in labels], float(value))
        for name in _UNLABELLED:
            if not any(n == name for n, _ in snapshot):
                families[name].add_metric([], 0.0)
        yield from families.values()


def unattributed_gpus(view: NodeView) -> int:
    """GPUs of the node with at least one process no Slurm job owns (at the last sample)."""
    return sum(1 for g in view.gpus if g.ownership.unattributed_processes > 0)


def build_registry(collector: AgentCollector) -> CollectorRegistry:
    """A fresh registry holding only the agent's collector (never the process-global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
