"""The exporter's collector on a constructed ledger (SQLite and PostgreSQL): values, fallbacks, caching."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, Engine, create_engine, text

from quotad.amounts import NORMALISED
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.daemon.health import JobHealth
from quotad.daemon.problems import Problems
from quotad.errors import RefusalReason
from quotad.ledger.collector_state import record_failure, record_success
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import POOL
from quotad.ledger.queries import _hourly_cells, allocated_gpus, company_status, range_cells
from quotad.ledger.registry import AccountRef, GrantSpec, add_company, set_grant
from quotad.ledger.telemetry import GpuUsageRow, idle_allocations, upsert_gpu_usage
from quotad.metrics.catalogue import CATALOGUE
from quotad.metrics.collector import LedgerCollector, build_registry
from quotad.metrics.pool import PoolCache
from quotad.metrics.snapshot import SnapshotCache
from quotad.metrics.sources import idle_gpus, idle_jobs, open_directives, severity_label
from quotad.notify.outbox import OutgoingMessage, enqueue
from quotad.pool.registry import ProviderSpec, ReservationSpec, set_provider, set_reservation
from quotad.units import TFLOP_PER_EFLOPS_HOUR, GpuCatalog
from tests.helpers import row, sacct_text, utc

H = 3600
NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T00:00:00")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def gpu_row(job_id: int, gpu: int, *, idle_since: int | None, account: str = "acme", cluster: str = "c1") -> GpuUsageRow:
    """One agent row for the hour before NOW, sampled 30 s before NOW."""
    hour = NOW - H
    return GpuUsageRow(
        cluster=cluster, job_id=job_id, node="n1", gpu_index=gpu, hour=hour, gpu_uuid=f"GPU-{gpu}", account=account,
        user_name="alice", samples=300, observed_seconds=3000, idle_seconds=1200 if idle_since else 0,
        idle_mem_held_seconds=0, util_pct_seconds=0, util_max=0, mem_used_max=0, mem_total=80 << 30, energy_mj=0,
        allocated=True, job_process_seen=True, foreign_processes=0, foreign_job_id=None, idle_since=idle_since,
        recent_seconds=1800, recent_idle_seconds=1200 if idle_since else 0, recent_util_pct_seconds=0,
        throttle_mask=0, xid_events=0, last_xid=None, ecc_uncorrected=0, first_sample=hour, last_sample=NOW - 30,
        updated_at=NOW - 30,
    )


def add_directive(conn: Connection, policy: str, severity: int, state: str, subject: str) -> None:
    conn.execute(
        text(
            "INSERT INTO directives (policy, subject_key, state, base_severity, severity, level, summary, finding, "
            "urgent, enforceable, opened_at, last_seen_at, changed_at, notices, unchanged_notices, escalation, "
            "acknowledged_by, close_reason) VALUES (:p, :s, :st, :sev, :sev, 'warn', '', '{}', false, false, "
            ":now, :now, :now, 0, 0, 0, '', '')"
        ),
        {"p": policy, "s": subject, "st": state, "sev": severity, "now": NOW},
    )


@pytest.fixture
def programme(engine: Engine, settings: Settings) -> Engine:
    """acme: 1,000 GPU-h of H100 on c1, 170 used (70 in the last 7 days), 4 GPUs running (3 idle).
    fuji: a pool grant of 2 EFLOPS-h, 1,000 H200 GPU-h used on c2."""
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(conn, company_id="acme", name_ja="アクメ", name_en="Acme", now=NOW,
                    accounts=[AccountRef("c1", "acme")])
        add_company(conn, company_id="fuji", name_ja="富士", name_en="Fuji", now=NOW, accounts=[AccountRef("c2", "fuji")])
        types = ["h100", "h200", "a100"]
        set_grant(conn, GrantSpec("acme", "c1", "h100", 1000 * H, NOV, MAY), known_gpu_types=types)
        set_grant(conn, GrantSpec("fuji", POOL, NORMALISED, 2 * TFLOP_PER_EFLOPS_HOUR, NOV, MAY),
                  known_gpu_types=types)
        lines = sacct_text(
            row("1", 1, start="2026-11-02T00:00:00", end="2026-11-02T12:30:00", elapsed=45000, gpus="gres/gpu=8"),
            row("2", 2, start="2026-11-15T00:00:00", end="2026-11-15T10:00:00", elapsed=36000, gpus="gres/gpu=7"),
            row("3", 3, state="RUNNING", start="2026-11-20T00:00:00", elapsed=0, gpus="gres/gpu=4"),
            row("10", 10, cluster="c2", account="fuji", submit="2026-11-10T09:00:00", start="2026-11-10T09:00:00",
                end="2026-11-10T19:00:00", elapsed=36000, gpus="gres/gpu=100"),
        )
        ingest_sacct_text(conn, settings, lines, source="test", now=NOW)
        upsert_gpu_usage(conn, [gpu_row(3, g, idle_since=NOW - 1200 if g < 3 else None) for g in range(4)])
        add_directive(conn, "idle_allocation", 30, "open", "c1:3")
        add_directive(conn, "idle_allocation", 30, "notified", "c1:4")
        add_directive(conn, "quota_threshold", 40, "resolved", "acme")
        set_provider(conn, ProviderSpec("abci", "産総研", "AIST ABCI", "national_hpc"), now=NOV)
        set_reservation(conn, ReservationSpec("abci", "c1", "H100x8", "h100", 8, 2, NOV, MAY), known_gpu_types=types)
        record_success(conn, "c1", "sacct", new_watermark=NOW, now=NOW - 60, duration_ms=1500)
        record_failure(conn, "c2", "sacct", error="slurmdbd down", now=NOW - 60, duration_ms=200)
    return engine


def collector(engine: Engine, settings: Settings, **kw: object) -> LedgerCollector:
    kw.setdefault("pool", PoolCache(max_age_s=300))
    return LedgerCollector(
        engine=engine, settings=lambda: settings, snapshots=SnapshotCache(max_age_s=300), clock=lambda: NOW, **kw  # type: ignore[arg-type]
    )


def scrape(c: LedgerCollector) -> Samples:
    text_ = generate_latest(build_registry(c)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text_)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def test_grant_and_company_figures_match_quotad_status(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings))
    acme = {"company": "acme", "cluster": "c1", "gpu_type": "h100"}
    grant = value(s, "quotad_grant_gpu_seconds", **acme, grant="1")
    assert grant == 1000 * H
    assert value(s, "quotad_grant_flop", **acme, grant="1") == 1000 * H * 989 * 1e12
    assert value(s, "quotad_grant_used_ratio", **acme, grant="1") == pytest.approx(0.17)
    assert value(s, "quotad_gpu_used_seconds", **acme) == 170 * H
    with programme.connect() as conn:
        status = {r.company_id: r for r in company_status(conn, GpuCatalog(settings.gpu_types), now=NOW)}
    for company in ("acme", "fuji"):
        expected = status[company]
        assert value(s, "quotad_company_used_ratio", company=company) == pytest.approx(expected.used / expected.granted)
        assert value(s, "quotad_company_projected_ratio", company=company) == pytest.approx(
            expected.projected / expected.granted
        )
    # acme has one grant, so its grant projection is the company's: 170 h + 70 h/week for the rest of the period.
    projected = (170 * H + 70 * H * (MAY - NOW) // (7 * 86400)) / (1000 * H)
    assert value(s, "quotad_grant_projected_ratio", **acme, grant="1") == pytest.approx(projected)
    assert value(s, "quotad_grant_start_timestamp_seconds", **acme, grant="1") == NOV
    assert value(s, "quotad_grant_end_timestamp_seconds", **acme, grant="1") == MAY


def test_normalised_pool_grant_has_flop_but_no_gpu_seconds(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings))
    fuji = {"company": "fuji", "cluster": "*", "gpu_type": "*", "grant": "2"}
    assert value(s, "quotad_grant_flop", **fuji) == 2 * TFLOP_PER_EFLOPS_HOUR * 1e12
    assert ("quotad_grant_gpu_seconds", frozenset(fuji.items())) not in s
    # 1,000 H200 GPU-h at 989 TFLOPS = 0.989 * 3.6e6 ... over 2 EFLOPS-h
    assert value(s, "quotad_grant_used_ratio", **fuji) == pytest.approx(1000 * H * 989 / (2 * TFLOP_PER_EFLOPS_HOUR))
    assert value(s, "quotad_gpu_used_seconds", company="fuji", cluster="c2", gpu_type="h200") == 1000 * H
    assert value(s, "quotad_gpu_type_peak_flops", gpu_type="h200") == 989e12


def test_gpus_allocated_and_idle_now(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings))
    cell = {"company": "acme", "cluster": "c1", "gpu_type": "h100"}
    assert value(s, "quotad_gpus_allocated", **cell) == 4
    assert value(s, "quotad_gpus_idle", **cell) == 3
    job = {"company": "acme", "cluster": "c1", "job_id": "3", "user": "alice"}
    assert value(s, "quotad_slurm_job_gpus_idle", **job) == 3
    assert value(s, "quotad_slurm_job_idle_seconds", **job) == 1170  # idle since NOW-1200, last sampled NOW-30


def test_idle_gpus_agree_with_the_telemetry_read_api(programme: Engine) -> None:
    with programme.begin() as conn:
        # GPU 3 was idle in the hour before, but its newest row (busy) supersedes that; GPU 5's row is old.
        before = replace(gpu_row(3, 3, idle_since=NOW - 5000), hour=NOW - 2 * H, first_sample=NOW - 2 * H,
                         last_sample=NOW - H - 60)
        upsert_gpu_usage(conn, [before, replace(gpu_row(3, 5, idle_since=NOW - 9000), last_sample=NOW - 4000)])
    with programme.connect() as conn:
        for stale in (300, 2 * H, 3 * H):
            mine = sorted((g.cluster, g.job_id, g.user, g.idle_for_s) for g in idle_gpus(conn, now=NOW, stale_after_s=stale) or [])
            theirs = sorted(
                (s.cluster, s.job_id, s.user_name, s.idle_for(NOW))
                for cluster in ("c1", "c2")
                for s in idle_allocations(conn, cluster, now=NOW, min_idle_s=0, stale_after_s=stale)
            )
            assert mine == theirs
            assert len(mine) == (3 if stale < 4000 else 4)


def test_the_scrapes_per_job_idle_read_counts_the_idle_gpus(programme: Engine) -> None:
    """``idle_jobs`` (what a scrape serves) is ``idle_gpus`` counted per job, longest streak included."""
    with programme.begin() as conn:
        before = replace(gpu_row(3, 3, idle_since=NOW - 5000), hour=NOW - 2 * H, first_sample=NOW - 2 * H,
                         last_sample=NOW - H - 60)  # superseded by GPU 3's newer (busy) row
        old = replace(gpu_row(3, 5, idle_since=NOW - 9000), last_sample=NOW - 4000)  # a 5,000 s streak, stale
        upsert_gpu_usage(conn, [before, old, gpu_row(8, 0, idle_since=NOW - 60, cluster="c2", account="fuji")])
    with programme.connect() as conn:
        for stale in (300, 3 * H):
            expected: dict[tuple[str, str, str, int, str], tuple[int, int]] = {}
            for g in idle_gpus(conn, now=NOW, stale_after_s=stale):
                key = (g.company, g.cluster, g.gpu_type, g.job_id, g.user)
                count, longest = expected.get(key, (0, 0))
                expected[key] = (count + 1, max(longest, g.idle_for_s))
            for known in (None, {("c1", 3): "h100"}, {("c1", 3): "a100"}):
                jobs = idle_jobs(conn, now=NOW, stale_after_s=stale, known_types=known)
                mine = {(j.company, j.cluster, j.gpu_type, j.job_id, j.user): (j.gpus, j.longest_idle_s) for j in jobs}
                if known == {("c1", 3): "a100"}:  # the aggregate's type is served as it is: no live read for it
                    assert {k[2] for k in mine if k[3] == 3} == {"a100"}
                    continue
                assert mine == expected
        assert expected[("acme", "c1", "h100", 3, "alice")] == (4, 5000)
        assert expected[("fuji", "c2", "h200", 8, "alice")] == (1, 30)  # no running job: the cluster's default


def test_gpus_allocated_follow_a_poll_at_the_next_refresh(programme: Engine, settings: Settings) -> None:
    """``quotad_gpus_allocated`` is served from the usage aggregate: a poll's new running job shows at the next
    ``metrics_refresh``, and then equals the ledger's live read; its idle GPUs carry its own type at once."""
    cache = SnapshotCache(max_age_s=300)
    c = LedgerCollector(engine=programme, settings=lambda: settings, snapshots=cache, clock=lambda: NOW,
                        pool=PoolCache(max_age_s=300))  # fmt: skip
    h100 = {"company": "acme", "cluster": "c1", "gpu_type": "h100"}
    h200 = {**h100, "gpu_type": "h200"}
    assert value(scrape(c), "quotad_gpus_allocated", **h100) == 4
    with programme.begin() as conn:  # a poll writes: job 4 runs on 2 H200s of c1, one of them idle already
        lines = sacct_text(row("4", 4, state="RUNNING", start="2026-11-19T23:00:00", gpus="gres/gpu:h200=2,gres/gpu=2"))
        ingest_sacct_text(conn, settings, lines, source="test", now=NOW)
        upsert_gpu_usage(conn, [gpu_row(4, 0, idle_since=NOW - 600)])
    s = scrape(c)
    assert ("quotad_gpus_allocated", frozenset(h200.items())) not in s  # until the refresh
    assert value(s, "quotad_gpus_idle", **h200) == 1  # the new job's type, read live for the job the cache lacks
    assert cache.refresh(programme, GpuCatalog(settings.gpu_types), now=NOW) is True
    s = scrape(c)
    assert value(s, "quotad_gpus_allocated", **h200) == 2
    assert value(s, "quotad_gpus_allocated", **h100) == 4
    with programme.connect() as conn:
        live = allocated_gpus(conn)
    assert {k: v for k, v in live.items() if k[0] == "acme"} == {("acme", "c1", "h100"): 4, ("acme", "c1", "h200"): 2}


def test_idle_rows_older_than_the_telemetry_window_are_not_now(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings, telemetry_stale_s=10))
    assert "quotad_gpus_idle" not in names(s)
    assert value(s, "quotad_gpus_allocated", company="acme", cluster="c1", gpu_type="h100") == 4


def test_open_directives_by_policy_and_severity(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings))
    assert value(s, "quotad_directives_open", policy="idle_allocation", severity="warning") == 2
    assert ("quotad_directives_open", frozenset({"policy": "quota_threshold", "severity": "critical"}.items())) not in s
    assert severity_label(25) == "25"


def test_collector_health_from_the_ledger(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings))
    c1, c2 = {"cluster": "c1", "source": "sacct"}, {"cluster": "c2", "source": "sacct"}
    assert value(s, "quotad_collector_last_success_timestamp_seconds", **c1) == NOW - 60
    assert value(s, "quotad_collector_last_duration_seconds", **c1) == 1.5
    assert value(s, "quotad_collector_errors_total", **c1) == 0
    assert value(s, "quotad_collector_errors_total", **c2) == 1
    assert value(s, "quotad_collector_polls_total", **c2) == 1
    assert ("quotad_collector_last_success_timestamp_seconds", frozenset(c2.items())) not in s


def test_daemon_job_health_is_exported(programme: Engine, settings: Settings) -> None:
    health = JobHealth(lambda: NOW - 100)
    health.register("slurm_poll:c1", stale_after_s=900)
    health.succeeded("slurm_poll:c1", at=NOW - 40, duration_s=2.5)
    health.register("outbox", stale_after_s=60)
    health.failed("outbox", at=NOW - 5, duration_s=0.1, error="smtp down")
    s = scrape(collector(programme, settings, jobs=health.snapshot))
    assert value(s, "quotad_daemon_job_success_age_seconds", daemon_job="slurm_poll:c1") == 40
    assert value(s, "quotad_daemon_job_success_age_seconds", daemon_job="outbox") == 100  # since registration
    assert value(s, "quotad_daemon_job_last_success_timestamp_seconds", daemon_job="slurm_poll:c1") == NOW - 40
    assert value(s, "quotad_daemon_job_errors_total", daemon_job="outbox") == 1
    assert value(s, "quotad_daemon_job_runs_total", daemon_job="slurm_poll:c1") == 1
    assert value(s, "quotad_daemon_job_stale_after_seconds", daemon_job="outbox") == 60
    assert value(s, "quotad_ledger_up") == 1


def test_every_catalogued_metric_is_served_on_a_full_ledger(programme: Engine, settings: Settings) -> None:
    health = JobHealth(lambda: NOW)
    health.register("j", stale_after_s=60)
    health.succeeded("j", at=NOW, duration_s=1)
    problems = Problems()
    problems.poll_refusals("c1", {RefusalReason.UNKNOWN_CLUSTER: 2})
    with programme.begin() as conn:  # usage of an account no company claims, and a queued mail
        ghost = row("30", 30, account="ghost", start="2026-11-18T00:00:00", end="2026-11-18T01:00:00", elapsed=3600)
        ingest_sacct_text(conn, settings, sacct_text(ghost), source="ghost", now=NOW)
        enqueue(conn, OutgoingMessage("k", "<k@x>", "notice", "q@x.jp", ("o@x.jp",), "s", "raw"), now=NOW)
    served = names(scrape(collector(programme, settings, jobs=health.snapshot, problems=problems)))
    assert {spec.name for spec in CATALOGUE} <= served


def test_unclaimed_usage_refusals_and_outbox_are_served(programme: Engine, settings: Settings) -> None:
    problems = Problems()
    problems.poll_refusals("c2", {RefusalReason.MALFORMED: 3})
    with programme.begin() as conn:
        ghost = row("30", 30, account="ghost", start="2026-11-18T00:00:00", end="2026-11-18T02:00:00", elapsed=7200,
                    gpus="gres/gpu=2")
        old = row("31", 31, account="ghost", start="2026-10-01T00:00:00", end="2026-10-01T01:00:00", elapsed=3600,
                  submit="2026-10-01T00:00:00")
        ingest_sacct_text(conn, settings, sacct_text(ghost, old), source="ghost", now=NOW)
    s = scrape(collector(programme, settings, problems=problems))
    # Only the trailing 30 days: the October job is outside the window; claimed accounts are never here.
    assert value(s, "quotad_unclaimed_gpu_seconds", cluster="c1", account="ghost", gpu_type="h100") == 2 * 7200
    assert not [k for k in s if k[0] == "quotad_unclaimed_gpu_seconds" and ("account", "acme") in k[1]]
    assert value(s, "quotad_collector_refused_lines_total", cluster="c2", reason="malformed") == 3
    for reason in RefusalReason:  # every configured cluster starts at 0, so a first refusal is an increase
        assert value(s, "quotad_collector_refused_lines_total", cluster="c1", reason=reason.value) == 0
    assert value(s, "quotad_daemon_problems", check="refused_lines", subject="c2", reason="malformed") == 3
    assert value(s, "quotad_outbox_failing_messages") == 0


def test_pool_figures_for_the_reserved_capacity(programme: Engine, settings: Settings) -> None:
    s = scrape(collector(programme, settings))
    cell = {"cluster": "c1", "gpu_type": "h100"}
    assert value(s, "quotad_pool_gpus_reserved", **cell) == 16
    assert value(s, "quotad_pool_gpus_in_maintenance", **cell) == 0
    # November so far (the programme's zone is UTC here): 16 GPUs reserved since NOV; jobs 1 and 2 finished.
    month = {**cell, "window": "month"}
    reserved, allocated = 16 * (NOW - NOV), 8 * 45000 + 7 * 36000
    assert value(s, "quotad_pool_reserved_gpu_seconds", **month) == reserved
    assert value(s, "quotad_pool_allocated_gpu_seconds", **month) == allocated
    assert value(s, "quotad_pool_unallocated_gpu_seconds", **month) == reserved - allocated
    assert value(s, "quotad_pool_reserved_gpu_seconds", **cell, window="today") == 0  # NOW is midnight
    assert ("quotad_pool_gpus_reserved", frozenset({"cluster": "c2", "gpu_type": "h200"}.items())) not in s


def test_pool_figures_are_served_from_the_cache_until_it_ages(programme: Engine, settings: Settings) -> None:
    cache = PoolCache(max_age_s=300)
    assert cache.refresh(programme, settings, now=NOW) and not cache.refresh(programme, settings, now=NOW + 100)
    with programme.begin() as conn:
        # the same block, cut to one node (a reservation is keyed by provider, cluster, node type and period)
        set_reservation(conn, ReservationSpec("abci", "c1", "H100x8", "h100", 8, 1, NOV, MAY), known_gpu_types=["h100"])
    cell = {"cluster": "c1", "gpu_type": "h100"}
    clock = NOW + 100
    c = LedgerCollector(engine=programme, settings=lambda: settings, snapshots=SnapshotCache(max_age_s=300),
                        clock=lambda: clock, pool=cache)
    assert value(scrape(c), "quotad_pool_gpus_reserved", **cell) == 16  # cached: the change is not seen yet
    assert cache.refresh(programme, settings, now=NOW + 200)  # older than half max_age: recomputed
    clock = NOW + 200
    assert value(scrape(c), "quotad_pool_gpus_reserved", **cell) == 8


def test_unreadable_ledger_gives_ledger_up_0_and_keeps_job_metrics(settings: Settings) -> None:
    broken = create_engine("sqlite:////nonexistent/dir/ledger.sqlite")
    health = JobHealth(lambda: NOW)
    health.register("j", stale_after_s=60)
    s = scrape(collector(broken, settings, jobs=health.snapshot))
    assert value(s, "quotad_ledger_up") == 0
    assert value(s, "quotad_daemon_job_success_age_seconds", daemon_job="j") == 0
    assert "quotad_grant_used_ratio" not in names(s)


def test_registering_reads_nothing() -> None:
    """describe() answers from the catalogue: an engine that cannot connect is never touched."""
    broken = create_engine("sqlite:////nonexistent/dir/ledger.sqlite")
    c = collector(broken, Settings())
    registry = build_registry(c)
    assert registry is not build_registry(c)  # a registry of its own each time, never a global one


def test_snapshot_is_reused_until_the_ledger_changes(programme: Engine, settings: Settings) -> None:
    catalog = GpuCatalog(settings.gpu_types)
    cache = SnapshotCache(max_age_s=300)
    assert cache.refresh(programme, catalog, now=NOW) is True
    first = cache.current()
    assert cache.refresh(programme, catalog, now=NOW + 10) is False
    assert cache.current() is first
    with programme.begin() as conn:
        ingest_sacct_text(
            conn, settings,
            sacct_text(row("5", 5, start="2026-11-19T00:00:00", end="2026-11-19T01:00:00", elapsed=3600)),
            source="more", now=NOW,
        )
    assert cache.refresh(programme, catalog, now=NOW + 20) is True
    second = cache.current()
    assert second is not None and first is not None
    acme = ("acme", "c1", "h100")
    assert second.cells[acme] == first.cells[acme] + 3600  # gres/gpu:h100=1 for one hour
    # a new hour, or half the maximum age, recomputes even without a change
    assert cache.refresh(programme, catalog, now=NOW + H) is True


def test_a_grant_changed_in_place_invalidates_the_snapshot(programme: Engine, settings: Settings) -> None:
    catalog = GpuCatalog(settings.gpu_types)
    cache = SnapshotCache(max_age_s=300)
    cache.refresh(programme, catalog, now=NOW)
    with programme.begin() as conn:
        set_grant(conn, GrantSpec("acme", "c1", "h100", 2000 * H, NOV, MAY), known_gpu_types=["h100"])
    assert cache.refresh(programme, catalog, now=NOW + 1) is True


def test_scrape_recomputes_only_a_snapshot_older_than_max_age(programme: Engine, settings: Settings) -> None:
    catalog = GpuCatalog(settings.gpu_types)
    cache = SnapshotCache(max_age_s=300)
    with programme.connect() as conn:
        first = cache.get(conn, catalog, now=NOW)
        assert cache.get(conn, catalog, now=NOW + 300) is first
        assert cache.get(conn, catalog, now=NOW + 301) is not first


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (NOV, NOW + 1),
        (utc("2026-11-01T15:00:00"), utc("2026-11-19T09:30:00")),  # a Tokyo midnight to mid-morning
        (utc("2026-11-02T03:00:00"), utc("2026-11-02T09:00:00")),  # inside one day: hourly only
        (utc("2026-11-13T00:00:00"), NOW + 1),
    ],
)
def test_range_cells_from_daily_rollups_equal_the_hourly_sums(programme: Engine, start: int, end: int) -> None:
    with programme.connect() as conn:
        # The truth from the hourly table alone (usage_cells itself reads whole days from the rollup too).
        hourly = {k: v for k, v in _hourly_cells(conn, start, end).items() if v}
        for daily in (True, False):
            assert {k: v for k, v in range_cells(conn, start, end, daily=daily).items() if v} == hourly


def test_directives_without_the_table_are_empty() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        assert open_directives(conn) == {}

