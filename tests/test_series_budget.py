"""Prometheus series budget (deploy/README.md, "Prometheus series budget"): what one scrape costs, counted.

Two scrapes are counted by parsing their exposition, every sample line a series (a counter's ``_created``
included, since Prometheus stores it too):
- the NVML agent's ``/metrics`` on a fake 8-GPU node, every GPU held by a job;
- the daemon's exporter with 50 companies x 20 clusters: a grant and a running job per company and cluster,
  an idle GPU, an unclaimed account and a collector per cluster, built through the ledger's own writes.
A new label or per-job family that multiplies series fails here first, before it reaches a 100,000-GPU
Prometheus; raise a budget only together with the figures in deploy/README.md.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from quotad.collectors.nvml.fake import FakeDevice, FakeProcess, Scenario
from quotad.config import Settings
from quotad.ledger.collector_state import record_success
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import load_records, sync_clusters
from quotad.ledger.records import JobRecord
from quotad.ledger.registry import AccountRef, GrantSpec, add_company, set_grant
from quotad.ledger.telemetry import GpuUsageRow, upsert_gpu_usage
from quotad.metrics.collector import LedgerCollector, build_registry
from quotad.metrics.pool import PoolCache
from quotad.metrics.snapshot import SnapshotCache
from tests.conftest import make_settings
from tests.test_nvml_support import T0, FakeClock, canned_runner, make_agent

#: Series of one agent scrape on an 8-GPU node (151 measured; see deploy/README.md).
AGENT_BUDGET = 200
#: Series of one exporter scrape with 50 companies x 20 clusters (8,320 measured; see deploy/README.md).
EXPORTER_BUDGET = 10_000
COMPANIES, CLUSTERS = 50, 20
TYPES = ("h100", "h200", "b200")
H, DAY = 3600, 86400
NOW = T0 + 1800


def series(text: str) -> Counter[str]:
    """Series per family of one exposition."""
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        counts[family.name] += len(family.samples)
    return counts


def eight_gpu_node() -> Scenario:
    """Eight busy GPUs, each running one process of its own job (pid 100 + i, job 500 + i)."""
    return Scenario(devices=[
        FakeDevice(uuid=f"GPU-0000000{i}-0000-4000-8000-000000000000", minor=i, util=[(0.0, 90.0)],
                   memory_used_mib=[(0.0, 60000.0)], power_w=[(0.0, 650.0)],
                   processes=[FakeProcess(pid=100 + i, start=0, used_memory_mib=60000)])
        for i in range(8)
    ])  # fmt: skip


def show_job(job_id: int, idx: int) -> str:
    return (
        f"JobId={job_id} JobName=train UserId=alice(1000) GroupId=alice(1000) Account=acme JobState=RUNNING "
        f"NodeList=gpu001 NumNodes=1 TRES=cpu=1,mem=100M,node=1,gres/gpu=1 Nodes=gpu001 CPU_IDs=0 Mem=100 "
        f"GRES=gpu:h100:1(IDX:{idx})\n"
    )


def test_one_agent_scrape_of_an_eight_gpu_node_stays_within_budget(tmp_path: Path) -> None:
    listpids = "PID JOBID STEPID LOCALID GLOBALID\n" + "".join(f"{100 + i} {500 + i} batch 0 0\n" for i in range(8))
    outputs = {("scontrol", "listpids"): listpids}
    outputs.update({("scontrol", "show", "job", "-d", "-o", str(500 + i)): show_job(500 + i, i) for i in range(8)})
    clock = FakeClock()
    parts, _ = make_agent(eight_gpu_node(), engine=None, tmp_path=tmp_path, clock=clock, runner=canned_runner(outputs))
    parts.agent.start()
    for _ in range(6):
        clock.advance(10)
        parts.agent.sample()
    counts = series(generate_latest(parts.registry).decode())
    owners = counts["quotad_gpu_owner_info"]
    assert owners == 8, "every GPU is attributed to its job, so the owner series are part of the count"
    assert counts["quotad_gpu_util"] == 8
    total = sum(counts.values())
    assert total <= AGENT_BUDGET, f"{total} series per agent scrape > budget {AGENT_BUDGET}: {counts.most_common(8)}"
    per_gpu = {name: n for name, n in counts.items() if n % 8 == 0 and n >= 8}
    assert all(n == 8 for n in per_gpu.values()), f"a per-GPU family with more than one series per GPU: {per_gpu}"


def exporter_settings(db_url: str) -> Settings:
    clusters = [{"name": f"c{i:02d}", "default_gpu_type": TYPES[i % 3]} for i in range(CLUSTERS)]
    return make_settings(db_url, clusters=clusters)


def build_programme(engine: Engine, settings: Settings) -> None:
    """50 companies with an account, a grant and one running job on each of 20 clusters; per cluster one idle
    GPU, one unclaimed account and a successful collector poll."""
    clusters = [c.name for c in settings.clusters]
    known = list(settings.gpu_types)
    records: list[JobRecord] = []
    idle: list[GpuUsageRow] = []
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        for i in range(COMPANIES):
            company = f"co{i:02d}"
            add_company(conn, company_id=company, name_ja=f"会社{i}", name_en=f"Company {i}", now=NOW - 30 * DAY,
                        accounts=[AccountRef(c, f"{company}-{c}") for c in clusters])  # fmt: skip
            for k, cluster in enumerate(clusters):
                kind = TYPES[k % 3]
                set_grant(conn, GrantSpec(company, cluster, kind, 10_000 * H, NOW - 30 * DAY, NOW + 150 * DAY),
                          known_gpu_types=known)  # fmt: skip
                raw = 1000 + i * CLUSTERS + k
                records.append(JobRecord(cluster, str(raw), raw, NOW - 2 * H, f"{company}-{cluster}", "alice",
                                         "gpu", "RUNNING", NOW - 2 * H, None, 2 * H, ((kind, 8),)))  # fmt: skip
        for k, cluster in enumerate(clusters):
            records.append(JobRecord(cluster, "9", 9, NOW - DAY, "stranger", "bob", "gpu", "COMPLETED", NOW - DAY,
                                     NOW - DAY + H, H, ((TYPES[k % 3], 1),)))  # fmt: skip
            raw = 1000 + k
            idle.append(GpuUsageRow(
                cluster=cluster, job_id=raw, node="n1", gpu_index=0, hour=NOW - NOW % H, gpu_uuid=f"GPU-{cluster}",
                account=f"co00-{cluster}", user_name="alice", samples=100, observed_seconds=1000, idle_seconds=1000,
                idle_mem_held_seconds=0, util_pct_seconds=0, util_max=0, mem_used_max=0, mem_total=80 << 30,
                energy_mj=0, allocated=True, job_process_seen=True, foreign_processes=0, foreign_job_id=None,
                idle_since=NOW - 1700, recent_seconds=1000, recent_idle_seconds=1000, recent_util_pct_seconds=0,
                throttle_mask=0, xid_events=0, last_xid=None, ecc_uncorrected=0, first_sample=NOW - 1700,
                last_sample=NOW - 30, updated_at=NOW - 30,
            ))  # fmt: skip
            record_success(conn, cluster, "sacct", new_watermark=NOW, now=NOW - 60, duration_ms=900)
        load_records(conn, records, source="test", kind="sacct", now=NOW)
        upsert_gpu_usage(conn, idle)


def test_one_exporter_scrape_of_50_companies_on_20_clusters_stays_within_budget(db_url: str) -> None:
    settings = exporter_settings(db_url)
    engine = create_ledger_engine(settings)
    try:
        upgrade(engine)
        build_programme(engine, settings)
        collector = LedgerCollector(engine=engine, settings=lambda: settings, snapshots=SnapshotCache(max_age_s=300),
                                    clock=lambda: NOW, pool=PoolCache(max_age_s=300))  # fmt: skip
        counts = series(generate_latest(build_registry(collector)).decode())
    finally:
        engine.dispose()
    cells = COMPANIES * CLUSTERS
    assert counts["quotad_grant_used_ratio"] == cells  # the scenario is as large as it claims
    assert counts["quotad_gpus_allocated"] == cells
    assert counts["quotad_unclaimed_gpu_seconds"] == CLUSTERS
    assert counts["quotad_slurm_job_gpus_idle"] == CLUSTERS
    total = sum(counts.values())
    assert total <= EXPORTER_BUDGET, (
        f"{total} series per exporter scrape > budget {EXPORTER_BUDGET}: {counts.most_common(8)}"
    )
