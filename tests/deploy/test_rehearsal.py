"""The production deployment of deploy/README.md, rehearsed on the installed wheel with the real parts here.

What it does (deploy/README.md, "The rehearsal", says the same to operators):
- the wheel built from the sdist is installed in a fresh venv at ``ROOT/opt/quotad/venv`` (``installed``);
  ``ROOT`` is a scratch folder standing for ``/``: every absolute path of the units and the configuration
  (``/opt/quotad``, ``/etc/quotad``, ``/var/lib/quotad``, ``/srv/quotad-spool``, ``/etc/prometheus``) is
  taken under it, and that is the only change made to the units' command lines;
- the users ``quotad`` and ``quotad-agent`` are created as documented when missing; a PostgreSQL role and
  database are created with ``createuser``/``createdb -O`` as the postgres user (a unique name per run,
  dropped at the end), and ``quotad db upgrade`` runs as ``quotad``;
- the daemon runs as ``quotad.service``'s ExecStart with its User, Group, Environment, WorkingDirectory and
  UMask; one agent as ``quotad-agent.service``'s (plus ``--fake SCENARIO``: no GPU here);
- Prometheus runs with the shipped prometheus.yml and rules; only the targets' host:port are rewritten for
  loopback (the daemon's static target, and the agent file_sd file ``agents/<cluster>.yml`` it documents);
- the daemon polls the real Slurm test cluster (a job submitted here reaches the ledger), its policy tick
  queues mail and its outbox delivers it to an SMTP server on loopback (aiosmtpd; the message is parsed
  back); a window the agent's spool code writes as the agent's user into the shared spool folder is
  written to the ledger and removed by the daemon's spool_replay, running as another user;
- SIGHUP reloads the configuration;
- ``QuotadAgentDown`` fires once the agent is stopped and resolves once it is started again, with the shipped
  ``for:`` and intervals (so this module takes about seven minutes, mostly waiting);
- every Grafana panel query runs on that Prometheus with the dashboard variables set to this deployment;
- SIGTERM stops each process with exit 0 within its unit's TimeoutStopSec.

The tests run in file order over one module-scoped deployment.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text

from quotad.ledger.models import Job
from tests.conftest import PG_URL
from tests.deploy.conftest import REPO, Installed
from tests.deploy.units import Unit, read_unit
from tests.test_deploy_integration import dashboards, free_port, http_get

pytestmark = [pytest.mark.deploy, pytest.mark.slurm]

SYSTEMD = REPO / "deploy" / "systemd"
PROMETHEUS = REPO / "deploy" / "prometheus"
SCENARIO = REPO / "tests" / "fixtures" / "nvml" / "busy_then_idle.json"
CLUSTER = os.environ.get("QUOTAD_TEST_CLUSTER", "quotad-test")
NODE = "vm"  # the test cluster's one node (deploy/slurm-testcluster)
#: A guard against a hung step; never an assertion about speed.
PATIENCE_S = 90.0
#: The shipped QuotadAgentDown waits `for: 5m` at a 30 s evaluation interval and a 15 s scrape interval.
ALERT_PATIENCE_S = 8 * 60.0


def wait_for(condition: Callable[[], Any], what: str, patience: float = PATIENCE_S) -> Any:
    deadline = time.monotonic() + patience
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.5)


def sh(*argv: str | Path, **kwargs: Any) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False, timeout=120, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, argv))}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Mailbox:
    """aiosmtpd handler keeping every message, parsed back with the stdlib."""

    received: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.original_content,
                                                                          policy=default_policy)))
        return "250 OK"


@dataclass
class Service:
    """One process started as a unit would start it; its stderr (the journal) collected line by line."""

    unit: Unit
    argv: list[str]
    process: subprocess.Popen[str]
    lines: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, predicate: Callable[[str], bool], what: str, patience: float = PATIENCE_S) -> str:
        deadline = time.monotonic() + patience
        checked = 0
        while True:
            for line in self.seen[checked:]:
                if predicate(line):
                    return line
            checked = len(self.seen)
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            if time.monotonic() > deadline:
                pytest.fail(f"{self.unit.path.name} never logged {what}; it said:\n" + "\n".join(self.seen[-30:]))

    def json_lines(self) -> list[dict[str, Any]]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        out = []
        for line in self.seen:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"level": "RAW", "msg": line})
        return out

    def stop(self) -> tuple[int, float]:
        """SIGTERM (the units' KillSignal); the exit code, and the seconds it took against TimeoutStopSec."""
        assert self.unit.one("KillSignal") == "SIGTERM"
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(self.unit.seconds("TimeoutStopSec"))
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"{self.unit.path.name} did not stop within TimeoutStopSec")
        return code, time.monotonic() - started


@dataclass
class Deployment:
    installed: Installed
    root: Path
    config: Path
    database: str
    daemon_port: int
    agent_port: int
    prometheus: str
    mailbox: Mailbox
    company: str
    daemon: Service
    agent: Service
    extra_args: list[str]
    spool: Path

    def host(self, path: str) -> Path:
        return host_path(self.root, path)

    def query(self, expr: str) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        answer = json.loads(body) if body else {}
        assert status == 200 and answer.get("status") == "success", f"{expr}: {status} {body[:500]!r}"
        return answer["data"]["result"]  # type: ignore[no-any-return]

    def ledger(self) -> Any:
        return create_engine(database_url(self.database))

    def start_agent(self) -> Service:
        self.agent = start_unit(self.root, read_unit(SYSTEMD / "quotad-agent.service"), extra=self.extra_args)
        return self.agent


def host_path(root: Path, path: str) -> Path:
    """An absolute path of the units or the configuration, under the scratch root standing for ``/``."""
    assert path.startswith("/"), path
    return root / path.lstrip("/")


def database_url(name: str) -> str:
    server = urllib.parse.urlsplit(PG_URL.replace("postgresql+psycopg", "postgresql"))
    return f"postgresql+psycopg://{name}@{server.hostname}:{server.port or 5432}/{name}"


def start_unit(root: Path, unit: Unit, *, extra: list[str] = ()) -> Service:  # type: ignore[assignment]
    """Start ExecStart as systemd would: User, Group (+ the user's groups), Environment, WorkingDirectory,
    UMask. Absolute paths in ExecStart and Environment are taken under ``root``; ``extra`` is appended."""
    argv = [str(host_path(root, a)) if a.startswith("/") else a for a in unit.exec_start()] + list(extra)
    user = pwd.getpwnam(unit.one("User"))
    group = grp.getgrnam(unit.one("Group"))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG": "C.UTF-8", "HOME": user.pw_dir,
           "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": user.pw_shell}
    env.update({k: str(host_path(root, v)) if v.startswith("/") else v for k, v in unit.environment().items()})
    supplementary = [g for v in unit.values("SupplementaryGroups") for g in v.split()]
    process = subprocess.Popen(
        argv, user=user.pw_uid, group=group.gr_gid,
        extra_groups=sorted(set(os.getgrouplist(user.pw_name, group.gr_gid)) | {grp.getgrnam(g).gr_gid for g in supplementary}),
        umask=int(unit.one("UMask"), 8), cwd=host_path(root, unit.one("WorkingDirectory")), env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    return Service(unit, argv, process)


def ensure_user(name: str, *args: str) -> None:
    """``useradd --system ...`` as deploy/README.md and the unit comments say, when the user is missing."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        sh("useradd", "--system", *args, "--shell", "/usr/sbin/nologin", name)


def write_config(path: Path, *, root: Path, database: str, daemon_port: int, agent_port: int, smtp_port: int) -> None:
    spool = host_path(root, "/srv/quotad-spool")
    path.write_text(
        f"""# Written by tests/deploy/test_rehearsal.py: the production layout under a scratch root.
[database]
url = "{database_url(database)}"

[[clusters]]
name = "{CLUSTER}"
default_gpu_type = "h100"
timezone = "Asia/Tokyo"

[daemon]
listen = "127.0.0.1:{daemon_port}"
agent_spool_dirs = ["{spool}/*"]
[daemon.jobs.slurm_poll]
interval_s = 2
[daemon.jobs.policy_tick]
interval_s = 2
[daemon.jobs.outbox]
interval_s = 1
[daemon.jobs.spool_replay]
interval_s = 5
[daemon.jobs.metrics_refresh]
interval_s = 1

[agent]
cluster = "{CLUSTER}"
node = "{NODE}"
listen = "127.0.0.1:{agent_port}"
spool_dir = "{spool}/{NODE}"
interval_s = 1
flush_interval_s = 2

[notify]
sender = "quotad@example.org"
[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout_s = 10
""",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def deployment(installed: Installed, slurm_cluster: str) -> Iterator[Deployment]:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus not found: deploy/dev/test-services installs Debian's prometheus package")
    root = installed.root
    quotad = installed.bin("quotad")
    database = f"quotad_rh_{uuid.uuid4().hex[:10]}"
    processes: list[subprocess.Popen[Any]] = []
    smtp: Controller | None = None
    dep: Deployment | None = None
    try:
        # --- users (deploy/README.md "The daemon"; quotad-agent.service's comment) ---
        ensure_user("quotad", "--home-dir", "/var/lib/quotad", "--no-create-home")
        ensure_user("quotad-agent", "--no-create-home", "--gid", "quotad")
        # --- the ledger: role and database as the postgres user ---
        server = urllib.parse.urlsplit(PG_URL.replace("postgresql+psycopg", "postgresql"))
        pg = ["-h", server.hostname or "127.0.0.1", "-p", str(server.port or 5432), "-U", "postgres"]
        sh("createuser", *pg, database)
        sh("createdb", *pg, "-O", database, database)
        # --- /etc/quotad: 0750 root:quotad, quotad.toml 0640 ---
        etc = host_path(root, "/etc/quotad")
        smtp_port, daemon_port, agent_port = free_port(), free_port(), free_port()
        staged = root / "quotad.toml"
        write_config(staged, root=root, database=database, daemon_port=daemon_port, agent_port=agent_port,
                     smtp_port=smtp_port)
        sh("install", "-d", "-m", "0750", "-g", "quotad", etc)
        sh("install", "-m", "0640", "-g", "quotad", staged, etc)
        config = etc / "quotad.toml"
        # StateDirectory=quotad (StateDirectoryMode) and the agent's spool, as documented.
        daemon_unit = read_unit(SYSTEMD / "quotad.service")
        agent_unit = read_unit(SYSTEMD / "quotad-agent.service")
        sh("install", "-d", "-o", "quotad", "-g", "quotad", "-m", daemon_unit.one("StateDirectoryMode"),
           host_path(root, "/var/lib/" + daemon_unit.one("StateDirectory")))
        sh("install", "-d", "-o", "quotad-agent", "-g", "quotad", "-m", "0770",
           host_path(root, agent_unit.one("WorkingDirectory")))
        spool = host_path(root, f"/srv/quotad-spool/{NODE}")
        sh("install", "-d", "-o", "quotad-agent", "-g", "quotad", "-m", "0770", spool)
        scenario = host_path(root, "/etc/quotad/fake-nvml.json")
        sh("install", "-m", "0644", SCENARIO, scenario)
        # --- schema, company and a tiny grant, as the quotad user through the installed CLI ---
        as_quotad = ["runuser", "-u", "quotad", "--", str(quotad), "-c", str(config)]
        sh(*as_quotad, "db", "upgrade", cwd=root)
        company = "rehearsal-ai"
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        sh(*as_quotad, "company", "add", company, "--name-ja", "リハーサルAI", "--name-en", "Rehearsal AI",
           "-a", f"{CLUSTER}:acme", "--contact", "ops@rehearsal.example:ja", cwd=root)
        sh(*as_quotad, "grant", "set", company, "--cluster", CLUSTER, "--gpu-type", "h100", "--gpu-hours", "0.001",
           "--start", today, "--end", time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400)), cwd=root)
        # --- SMTP on loopback ---
        mailbox = Mailbox()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        # --- the daemon and one agent, as their units start them ---
        daemon = start_unit(root, daemon_unit)
        processes.append(daemon.process)
        extra = ["--fake", str(scenario)]
        agent = start_unit(root, agent_unit, extra=extra)
        processes.append(agent.process)
        # --- Prometheus with the shipped configuration: only the targets' host:port rewritten ---
        prom_etc = host_path(root, "/etc/prometheus")
        shutil.copytree(PROMETHEUS, prom_etc, ignore=shutil.ignore_patterns("tests", "*.example"), dirs_exist_ok=True)
        shipped = (prom_etc / "prometheus.yml").read_text(encoding="utf-8")
        assert shipped.count('"127.0.0.1:9817"') == 1
        (prom_etc / "prometheus.yml").write_text(shipped.replace('"127.0.0.1:9817"', f'"127.0.0.1:{daemon_port}"'),
                                                 encoding="utf-8")
        (prom_etc / "agents" / f"{CLUSTER}.yml").write_text(
            f'- targets: ["127.0.0.1:{agent_port}"]\n  labels:\n    cluster: {CLUSTER}\n', encoding="utf-8"
        )
        sh("promtool", "check", "config", prom_etc / "prometheus.yml")
        prom_port = free_port()
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={prom_etc / 'prometheus.yml'}",
             f"--storage.tsdb.path={host_path(root, '/var/lib/prometheus')}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=(root / "prometheus.log").open("wb"), cwd=root,
        )
        processes.append(prom)
        dep = Deployment(installed, root, config, database, daemon_port, agent_port, f"http://127.0.0.1:{prom_port}",
                         mailbox, company, daemon, agent, extra, spool)
        wait_for(lambda: http_get(f"{dep.prometheus}/-/ready")[0] == 200, "Prometheus to be ready")
        yield dep
    finally:
        for process in [*processes, *([dep.agent.process, dep.daemon.process] if dep else [])]:
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(30)
                process.kill()
        if smtp is not None:
            smtp.stop()
        # Dropped in the background: DROP DATABASE waits for a checkpoint, minutes on a busy disk.
        server = urllib.parse.urlsplit(PG_URL.replace("postgresql+psycopg", "postgresql"))
        pg = f"-h {server.hostname or '127.0.0.1'} -p {server.port or 5432} -U postgres"
        subprocess.Popen(["sh", "-c", f"dropdb {pg} --if-exists --force {database}; dropuser {pg} --if-exists {database}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_the_daemon_runs_as_its_unit_says(deployment: Deployment) -> None:
    daemon = deployment.daemon
    daemon.wait_line(lambda line: "serving /metrics" in line, "that it serves /metrics")
    status = Path(f"/proc/{daemon.process.pid}/status").read_text(encoding="utf-8")
    fields = dict(line.split(":", 1) for line in status.splitlines())
    assert int(fields["Uid"].split()[0]) == pwd.getpwnam("quotad").pw_uid
    assert int(fields["Umask"], 8) == int(daemon.unit.one("UMask"), 8)
    assert Path(f"/proc/{daemon.process.pid}/cwd").resolve() == deployment.host(daemon.unit.one("WorkingDirectory"))
    # The installed entry point (its shebang runs the venv's python on it) with exactly ExecStart's arguments,
    # once the scratch root is taken off the paths.
    cmdline = Path(f"/proc/{daemon.process.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    root = str(deployment.root)
    unmapped = ["/" + str(Path(a).relative_to(root)) if a.startswith(root + "/") else a for a in cmdline[1:]]
    assert unmapped == daemon.unit.exec_start(), cmdline
    assert cmdline[1] == str(deployment.installed.bin("quotad"))
    health_status, body = http_get(f"http://127.0.0.1:{deployment.daemon_port}/healthz")
    assert health_status == 200, body


def test_prometheus_scrapes_both_targets_with_the_rules_loaded(deployment: Deployment) -> None:
    wait_for(lambda: deployment.query('up{job="quotad"} == 1'), "Prometheus to scrape the daemon")
    wait_for(lambda: deployment.query(f'up{{job="quotad-agent", cluster="{CLUSTER}"}} == 1'),
             "Prometheus to scrape the agent")
    wait_for(lambda: deployment.query("count(quotad_gpu_util) == 2"), "both fake GPUs")
    status, body = http_get(f"{deployment.prometheus}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    shipped = set(re.findall(r"^\s*- alert: (\w+)", (PROMETHEUS / "rules" / "quotad.rules.yml").read_text(), re.M))
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert status == 200 and shipped and shipped <= loaded
    wait_for(lambda: all(r.get("health") == "ok" for g in json.loads(http_get(f"{deployment.prometheus}/api/v1/rules")[1])
                         ["data"]["groups"] for r in g["rules"]), "every rule to evaluate")


def test_the_agent_stops_within_its_timeout(deployment: Deployment) -> None:
    """Stopped here so that QuotadAgentDown has its five minutes while the rest of the rehearsal runs."""
    deployment.agent.wait_line(lambda line: f"serving /metrics and /healthz on 127.0.0.1:{deployment.agent_port}" in line,
                               "its listener")
    code, _ = deployment.agent.stop()
    assert code == 0, "\n".join(deployment.agent.seen[-20:])
    wait_for(lambda: deployment.query(f'up{{job="quotad-agent", cluster="{CLUSTER}"}} == 0'),
             "Prometheus to see the agent down", patience=60)
    wait_for(lambda: deployment.query('ALERTS{alertname="QuotadAgentDown", alertstate="pending"}'),
             "QuotadAgentDown to be pending", patience=120)


def test_a_job_on_the_real_cluster_reaches_the_ledger(deployment: Deployment) -> None:
    tag = f"rehearsal-{uuid.uuid4().hex[:8]}"
    job = int(sh("sbatch", "--parsable", "-o", "/dev/null", "-J", tag, "-A", "acme", "--gres=gpu:h100:1",
                 "--wrap", "sleep 3").split(";")[0])
    engine = deployment.ledger()
    try:
        def charged() -> bool:
            with engine.connect() as conn:
                row = conn.execute(select(Job.state, Job.charged_seconds).where(
                    Job.cluster == CLUSTER, Job.job_id_raw == job)).first()
            return row is not None and row.state == "COMPLETED" and row.charged_seconds > 0

        wait_for(charged, f"job {job} to be polled as COMPLETED with its GPU-seconds", patience=180)
    finally:
        engine.dispose()
    assert any(line.get("daemon_job") == f"slurm_poll:{CLUSTER}" or f"slurm_poll:{CLUSTER}" in str(line.get("job"))
               for line in deployment.daemon.json_lines())


def test_a_policy_tick_queues_mail_and_the_outbox_delivers_it(deployment: Deployment) -> None:
    def delivered() -> list[Any]:
        return [m for rcpt, m in deployment.mailbox.received if "ops@rehearsal.example" in rcpt]

    (first, *_) = wait_for(delivered, "the quota notice to reach the SMTP server", patience=120)
    assert first["From"].addresses[0].addr_spec == "quotad@example.org"
    assert first["Message-ID"] and str(first["Subject"]).startswith("[quotad]"), first["Subject"]
    body = first.get_body(preferencelist=("plain",))
    assert body is not None and "リハーサルAI" in body.get_content(), body
    engine = deployment.ledger()
    try:
        with engine.connect() as conn:
            sent = conn.execute(text("SELECT directive_id FROM outbox WHERE state = 'sent' AND message_id = :id"),
                                {"id": str(first["Message-ID"]).strip()}).all()
    finally:
        engine.dispose()
    # Queued by the policy tick: the sent row carries the directive it notifies.
    assert len(sent) == 1 and sent[0].directive_id is not None, sent


#: Run by the installed interpreter as the agent's unit user: the agent's own spool writer stores one window
#: (what a flush does while the ledger is unreachable), for a job no other test uses.
SPOOL_ONE_WINDOW = """
import sys, time
from pathlib import Path
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.spool import Spool
from quotad.ledger.telemetry import GpuUsageRow
now = int(time.time()); hour = now - now % 3600
row = GpuUsageRow(
    cluster=sys.argv[2], job_id=int(sys.argv[3]), node=sys.argv[4], gpu_index=0, hour=hour, gpu_uuid="GPU-R",
    account="acme", user_name="rehearsal", samples=6, observed_seconds=60, idle_seconds=60,
    idle_mem_held_seconds=0, util_pct_seconds=0, util_max=0, mem_used_max=0, mem_total=80 << 30, energy_mj=0,
    allocated=True, job_process_seen=False, foreign_processes=0, foreign_job_id=None, idle_since=now - 60,
    recent_seconds=60, recent_idle_seconds=60, recent_util_pct_seconds=0, throttle_mask=0, xid_events=0,
    last_xid=None, ecc_uncorrected=0, first_sample=now - 60, last_sample=now, updated_at=now,
)
print(Spool(Path(sys.argv[1]), max_bytes=1 << 20, counters=AgentCounters()).write([row], created=now))
"""


def test_the_daemon_replays_the_agents_spool_as_another_user(deployment: Deployment) -> None:
    """A window the agent spooled in the shared spool (the ledger was unreachable from its node) is written to
    the ledger and removed by the daemon's spool_replay, which runs as ``quotad``: the agent unit's group and
    umask let it. The window is written by the agent's own spool code, as the agent unit's user, group and
    umask (a real agent spools only windows of GPUs that Slurm jobs hold, and no job holds the fake GPUs)."""
    unit = read_unit(SYSTEMD / "quotad-agent.service")
    user, group = pwd.getpwnam(unit.one("User")), grp.getgrnam(unit.one("Group"))
    job = 900_000_000 + int(uuid.uuid4().int % 1_000_000)
    written = subprocess.run(
        [str(deployment.installed.bin("python")), "-c", SPOOL_ONE_WINDOW, str(deployment.spool), CLUSTER, str(job),
         NODE],
        user=user.pw_uid, group=group.gr_gid, extra_groups=[], umask=int(unit.one("UMask"), 8),
        cwd=host_path(deployment.root, unit.one("WorkingDirectory")), env={"PATH": "/usr/bin:/bin", "HOME": "/"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert written.returncode == 0, written.stderr
    window = Path(written.stdout.strip())
    with contextlib.suppress(FileNotFoundError):  # spool_replay (every 5 s here) may already have taken it
        owner = window.stat()
        assert owner.st_uid == user.pw_uid and owner.st_gid == group.gr_gid and owner.st_mode & 0o777 == 0o660
    replayed = deployment.daemon.wait_line(lambda line: "window(s) written from agent spools" in line,
                                           "that spool_replay wrote the spooled window")
    assert json.loads(replayed)["level"] == "WARNING"
    wait_for(lambda: not window.exists(), "spool_replay to remove the replayed window")
    engine = deployment.ledger()
    try:
        with engine.connect() as conn:
            nodes = conn.execute(text("SELECT node FROM gpu_usage_hourly WHERE job_id = :job"), {"job": job}).all()
    finally:
        engine.dispose()
    assert nodes == [(NODE,)]


def test_sighup_reloads_the_configuration(deployment: Deployment) -> None:
    deployment.daemon.process.send_signal(signal.SIGHUP)  # ExecReload=/bin/kill -HUP $MAINPID
    assert deployment.daemon.unit.one("ExecReload") == "/bin/kill -HUP $MAINPID"
    deployment.daemon.wait_line(lambda line: "configuration reloaded" in line, "the reload")
    assert http_get(f"http://127.0.0.1:{deployment.daemon_port}/healthz")[0] == 200


def test_quotad_agent_down_fires_then_resolves(deployment: Deployment) -> None:
    firing = f'ALERTS{{alertname="QuotadAgentDown", alertstate="firing", cluster="{CLUSTER}"}}'
    wait_for(lambda: deployment.query(firing), "QuotadAgentDown to fire", patience=ALERT_PATIENCE_S)
    deployment.start_agent()  # Restart=always would do this; here the unit's ExecStart again
    wait_for(lambda: deployment.query(f'up{{job="quotad-agent", cluster="{CLUSTER}"}} == 1'),
             "the restarted agent to be scraped", patience=120)
    wait_for(lambda: not deployment.query('ALERTS{alertname="QuotadAgentDown"}'), "QuotadAgentDown to resolve",
             patience=120)


def test_every_dashboard_query_runs_with_the_variables_of_this_deployment(deployment: Deployment) -> None:
    """Each panel's query, with the variables set to this deployment's company, cluster and node, is accepted
    by Prometheus; the GPU and health dashboards, which this deployment feeds entirely, return data, except a list of what is down (``== 0``), empty when all is up. Run
    after the agent is back. (Every panel returning data is checked on the richer demo programme in
    tests/test_deploy_integration.py.)"""
    module = dashboards()
    values = {"company": deployment.company, "companies": deployment.company, "cluster": CLUSTER, "node": NODE}
    empty = []
    for uid, title, expr in module.expressions():
        concrete = module.substitute(expr, **values)
        assert "$" not in concrete, concrete
        if not deployment.query(concrete) and uid in ("quotad-gpus", "quotad-health") and "== 0" not in expr:
            empty.append(f"{uid} / {title}: {concrete}")
    assert empty == []


def test_sigterm_stops_both_within_timeout_stop_sec(deployment: Deployment) -> None:
    code, _ = deployment.agent.stop()
    assert code == 0
    code, _ = deployment.daemon.stop()
    assert code == 0, "\n".join(deployment.daemon.seen[-20:])
    lines = deployment.daemon.json_lines()
    assert any(line.get("msg") == "stopped" for line in lines)
    errors = [line for line in lines if line.get("level") in ("ERROR", "CRITICAL", "RAW")]
    assert errors == [], json.dumps(errors, indent=1, ensure_ascii=False)
