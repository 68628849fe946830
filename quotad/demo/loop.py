"""The rest of the demo's loop, after the sacct history is in: GPU telemetry, providers and reserved capacity,
one policy tick, and what it produced — directives, a rendered notice, charts.

Why through the production paths: the telemetry rows go through ``upsert_gpu_usage`` (what the NVML agent's
ledger sink calls), the tick is ``policy_tick`` (what the daemon runs), the notice is the outbox row it
queued; so the idle-GPU directive the demo shows was found in telemetry rows exactly as in production.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from quotad.collectors.hostlist import expand_hostlist
from quotad.config import Settings
from quotad.demo.synthetic import DemoProgramme
from quotad.ledger.models import CompanyAccount, Job
from quotad.ledger.telemetry import GpuUsageRow, upsert_gpu_usage
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, GpuCatalog

__all__ = ["DemoLoop", "loop_config", "run_loop"]

#: The company whose running jobs hold GPUs without using them (its behaviour is "idle_holder").
IDLE_COMPANY_BEHAVIOUR = "idle_holder"
TELEMETRY_HOURS = 3
IDLE_FOR = 150 * 60  # past the 120-minute hold threshold: urgent, sent at once


def loop_config() -> str:
    """The config sections the loop needs: the programme in Tokyo, who mail comes from and goes to."""
    return (
        '\n[programme]\ntimezone = "Asia/Tokyo"\n'
        '\n[notify]\nsender = "quotad@programme.example.jp"\n'
        'programme_office = ["office@programme.example.jp"]\n'
        '\n[notify.users]\npattern = "{user}@users.example.jp"\n'
    )


@dataclass(frozen=True)
class DemoLoop:
    telemetry_rows: int
    idle_jobs: int
    busy_jobs: int
    opened: tuple[str, ...]
    notice: str
    charts: tuple[Path, ...]
    maintenance: str = ""


def _rows(job: tuple[str, int, str, str, int, str], *, idle: bool, now: int) -> Iterator[GpuUsageRow]:
    """The agent's hourly rows for one running job: the last few hours, every GPU (8 per node).

    The rows name the nodes the job's sacct NodeList names (its GPUs 0-7 on the first, 8-15 on the second...),
    as the agent on those nodes would: telemetry and the scheduler must agree on where a job ran, or per-node
    maintenance overlaps would place it on two different nodes.
    """
    cluster, job_id, account, user, gpus, node_list = job
    hosts = expand_hostlist(node_list)
    current = now - now % SECONDS_PER_HOUR
    for back in range(TELEMETRY_HOURS):
        hour = current - back * SECONDS_PER_HOUR
        observed = (now - hour) if back == 0 else SECONDS_PER_HOUR
        for g in range(gpus):
            util = 0 if idle else 88
            yield GpuUsageRow(
                cluster=cluster, job_id=job_id, node=hosts[min(g // 8, len(hosts) - 1)], gpu_index=g % 8,
                hour=hour, gpu_uuid=f"GPU-{cluster}-{job_id}-{g}", account=account, user_name=user,
                samples=observed // 10, observed_seconds=observed, idle_seconds=observed if idle else 0,
                idle_mem_held_seconds=observed if idle else 0, util_pct_seconds=util * observed,
                util_max=2 if idle else 100, mem_used_max=40 << 30, mem_total=80 << 30, energy_mj=observed * 300,
                allocated=True, job_process_seen=True, foreign_processes=0, foreign_job_id=None,
                idle_since=now - IDLE_FOR if idle else None, recent_seconds=min(observed, 1800),
                recent_idle_seconds=min(observed, 1800) if idle else 0,
                recent_util_pct_seconds=util * min(observed, 1800), throttle_mask=0, xid_events=0, last_xid=None,
                ecc_uncorrected=0, first_sample=hour, last_sample=hour + observed, updated_at=hour + observed,
            )  # fmt: skip


def _telemetry(engine: Engine, programme: DemoProgramme, *, now: int) -> tuple[int, int, int]:
    """Rows for the running jobs: the idle-holder company's largest job idle, a few others busy."""
    idle_company = next(c.id for c in programme.companies if c.behaviour == IDLE_COMPANY_BEHAVIOUR)
    with engine.begin() as conn:
        running = conn.execute(
            select(Job.cluster, Job.job_id_raw, Job.account, Job.user_name, Job.gpu_count, Job.node_list,
                   CompanyAccount.company_id)
            .join(CompanyAccount, (CompanyAccount.cluster == Job.cluster) & (CompanyAccount.account == Job.account))
            .where(Job.state == "RUNNING", Job.gpu_count > 0, Job.node_list.is_not(None),
                   Job.start_time <= now - TELEMETRY_HOURS * 3600)
            .order_by(Job.gpu_count.desc(), Job.job_id_raw)
        ).all()
        idle = [r for r in running if r.company_id == idle_company][:1]
        busy = [r for r in running if r.company_id != idle_company][:6]
        rows = [row for r in idle for row in _rows((r[0], r[1], r[2], r[3], r[4], r[5] or ""), idle=True, now=now)]
        rows += [row for r in busy for row in _rows((r[0], r[1], r[2], r[3], r[4], r[5] or ""), idle=False, now=now)]
        written = upsert_gpu_usage(conn, rows)
    return written, len(idle), len(busy)


def _capacity(engine: Engine, settings: Settings, programme: DemoProgramme) -> None:
    """A national system and a cloud provider, each reserving its whole cluster for the period."""
    from quotad.pool.money import parse_price
    from quotad.pool.registry import ProviderSpec, ReservationSpec, set_provider, set_reservation

    kinds = {"yamato-ai": ("yamato", "大和AI計算基盤", "Yamato AI Computing", "national_hpc", "450"),
             "sora-cloud": ("sora", "ソラクラウド株式会社", "Sora Cloud K.K.", "cloud", "620")}
    with engine.begin() as conn:
        for cluster in programme.clusters:
            pid, ja, en, kind, price = kinds[cluster.name]
            set_provider(conn, ProviderSpec(pid, ja, en, kind), now=programme.period_start)  # type: ignore[arg-type]
            set_reservation(
                conn,
                ReservationSpec(pid, cluster.name, f"{cluster.gpu_type.upper()}x{cluster.gpus_per_node}",
                                cluster.gpu_type, cluster.gpus_per_node, cluster.nodes, programme.period_start,
                                programme.period_end, price=parse_price(price, "JPY")),
                known_gpu_types=list(settings.gpu_types),
            )


#: The demo's maintenance window: 8 of the cloud's 64 nodes, 4 hours, two days before now.
MAINT_CLUSTER, MAINT_FIRST, MAINT_NODES, MAINT_HOURS = "sora-cloud", 1, 8, 4


def _maintenance(engine: Engine, programme: DemoProgramme, *, now: int) -> str:
    """A provider's window on named nodes, and what per-node matching makes of it: only the jobs on them.

    The line it returns says how many segments ran on the window's nodes (the overlaps) against how many ran
    elsewhere on the cluster meanwhile (not flagged): a window on 8 of 64 nodes must not flag the whole cluster.
    """
    from quotad.pool.maintenance import MaintenanceSpec, maintenance_overlaps, set_window

    cluster = programme.cluster(MAINT_CLUSTER)
    prefix = f"{cluster.gpu_type}n"
    nodes = f"{prefix}[{MAINT_FIRST:03d}-{MAINT_FIRST + MAINT_NODES - 1:03d}]"
    start = now - now % SECONDS_PER_DAY - 2 * SECONDS_PER_DAY + 2 * SECONDS_PER_HOUR
    end = start + MAINT_HOURS * SECONDS_PER_HOUR
    with engine.begin() as conn:
        window_id, _ = set_window(
            conn,
            MaintenanceSpec(cluster.name, start, end, source="manual", reference="SORA-MAINT-1",
                            node_count=MAINT_NODES, nodes=nodes, reason="demo: firmware update"),
            now=programme.period_start,
        )  # fmt: skip
        found = maintenance_overlaps(conn, start=start, end=end, cluster=cluster.name)
        running = conn.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.cluster == cluster.name, Job.charged_seconds > 0, Job.start_time < end,
                   Job.start_time + Job.elapsed_raw > start)
        )  # fmt: skip
    return (f"maintenance window #{window_id} on {cluster.name} {nodes} ({MAINT_NODES} of {cluster.nodes} nodes, "
            f"{MAINT_HOURS} h): {len(found.found)} job segment(s) ran on those nodes (still charged, listed by "
            f"`maintenance overlaps`); {int(running or 0) - len(found.found) - len(found.node_unknown)} elsewhere "
            f"on the cluster meanwhile, not flagged")  # fmt: skip


def quotad_command() -> str:
    """The full path of this environment's ``quotad`` (what a reader pastes next)."""
    beside = Path(sys.executable).parent / "quotad"
    return str(beside) if beside.exists() else (shutil.which("quotad") or "quotad")


def run_loop(engine: Engine, settings: Settings, programme: DemoProgramme, where: Path, *, now: int) -> DemoLoop:
    """Telemetry, capacity, one policy tick, then the directives, one idle-GPU notice and three charts."""
    from quotad.charts import burn_down, pool_days, stacked_bars
    from quotad.charts.ledger import burn_down_data, monthly_use_data, pool_days_data
    from quotad.directives.config import rules_from
    from quotad.ledger.queries import list_companies
    from quotad.notify.outbox import list_outbox
    from quotad.tick import policy_tick

    written, idle, busy = _telemetry(engine, programme, now=now)
    _capacity(engine, settings, programme)
    maintenance = _maintenance(engine, programme, now=now)
    report = policy_tick(engine, settings, rules_from(settings), now=now)
    opened = tuple(f"#{d.id} [{d.severity.label}] {d.policy}: {d.summary}" for d in report.result.opened)
    idle_ids = {d.id for d in report.result.opened if d.policy == "idle_allocation"}
    tz = settings.programme.timezone
    catalog = GpuCatalog(settings.gpu_types)
    charts = (where / "burn-down.svg", where / "pool-by-day.svg", where / "monthly-use.png")
    with engine.connect() as conn:
        notice_id = next((m.id for m in list_outbox(conn) if m.kind == "notice" and m.directive_id in idle_ids), None)
        notice = _text_of(conn, notice_id) if notice_id is not None else ""
        companies = list_companies(conn)
        focus = next((c for c in companies if c.id == "hikari-labs"), companies[0])  # a heavy user: over its plan
        chart = burn_down_data(conn, catalog, focus, now=now, tz=tz)
        if chart is not None:
            burn_down(chart, charts[0])
        days = pool_days_data(conn, catalog, start=now - 30 * SECONDS_PER_DAY, end=now, now=now, tz=tz)
        pool_days("Pool by day, last 30 days / プールの日別利用（直近30日）", days, charts[1])
        stacked_bars(monthly_use_data(conn, catalog, companies, start=programme.period_start, end=now, tz=tz),
                     charts[2])
    return DemoLoop(written, idle, busy, opened, notice, tuple(c for c in charts if c.exists()), maintenance)


def _text_of(conn: Connection, message_id: int) -> str:
    """Recipients, subject and the plain-text part of an outbox message (Japanese, then English)."""
    from email import message_from_string
    from email.message import EmailMessage
    from email.policy import default

    from quotad.notify.outbox_models import OutboxMessage

    raw = conn.execute(select(OutboxMessage.raw).where(OutboxMessage.id == message_id)).scalar_one()
    parsed = message_from_string(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(("plain",))
    text = str(body.get_content()).replace("\r\n", "\n").rstrip() if body is not None else ""
    return f"To: {parsed['To']}\nSubject: {parsed['Subject']}\n\n{text}"
