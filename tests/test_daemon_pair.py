"""Two daemons, one ledger: PostgreSQL advisory job locks, outbox claims with SKIP LOCKED (a sender killed
mid-send loses nothing), /healthz saying which runs were left to the other daemon, and one daemon per SQLite
ledger (the second ``quotad run`` refused, naming the file and the first one's pid)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from quotad.daemon.health import JobHealth, healthz
from quotad.daemon.instance import single_daemon
from quotad.daemon.joblock import Acquired, PgJobLocks, lock_key
from quotad.daemon.jobs import JobDef, ScheduledJob
from quotad.daemon.scheduler import guarded
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.notify.config import OutboxConfig
from quotad.notify.message import build_message, message_id_for
from quotad.notify.outbox import OutgoingMessage, deliver, enqueue, list_outbox
from quotad.notify.render import Rendered
from tests.conftest import fresh_pg_schema, make_settings
from tests.fixtures.policy.smtp import SmtpServer, free_port, running_server
from tests.test_notify_outbox import smtp

NOW = 1_795_000_000
CONFIG = OutboxConfig(retry_base_s=60, retry_max_s=600, lease_s=300)
QUOTAD = Path(sys.executable).with_name("quotad")
#: A guard against a hung step; never an assertion about speed.
PATIENCE_S = 30.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards) as a ledger URL."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_ledger_engine(make_settings(pg_url))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from running_server()


def message(key: str) -> OutgoingMessage:
    mid = message_id_for(key, "programme.example.jp")
    msg = build_message(Rendered(f"subject {key}", "body", "<p>body</p>"), sender="quotad@programme.example.jp",
                        sender_name="quotad", to=["ops@acme.example.jp"], message_id=mid, now=NOW)
    return OutgoingMessage(key, mid, "notice", "quotad@programme.example.jp", ("ops@acme.example.jp",), key,
                           msg.as_string())


def queue(engine: Engine, *keys: str, now: int = NOW) -> list[str]:
    with engine.begin() as conn:
        for key in keys:
            enqueue(conn, message(key), now=now)
    return [message(k).message_id for k in keys]


# --- job locks -------------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_one_daemon_holds_a_job_until_it_fails_stops_or_its_connection_dies(pg_url: str) -> None:
    engine = create_engine(pg_url)
    a, b = PgJobLocks(engine, name="quotad run pid=1 host=a"), PgJobLocks(engine, name="quotad run pid=2 host=b")
    try:
        assert a.acquire("slurm_poll:c1") == Acquired(True)
        assert b.acquire("slurm_poll:c1") == Acquired(False, "quotad run pid=1 host=a")
        assert b.acquire("outbox") == Acquired(True)  # jobs are locked one by one
        assert a.acquire("slurm_poll:c1").held  # kept between runs: the job stays on one daemon
        a.release("slurm_poll:c1")  # a failed run gives it back
        assert b.acquire("slurm_poll:c1").held
        assert a.acquire("slurm_poll:c1") == Acquired(False, "quotad run pid=2 host=b")
        # b's connection dies (a killed daemon): PostgreSQL drops its locks, a takes the jobs at its next run
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                         {"n": "quotad run pid=2 host=b"})
        # (the backend ends asynchronously: a's next runs, an interval apart in the daemon, find the locks free)
        _wait(lambda: a.acquire("slurm_poll:c1").held, "the terminated session's lock to go")
        assert a.acquire("outbox").held
        # b, still alive, notices its lost connection at its next run and finds the jobs taken
        assert b.acquire("outbox") == Acquired(False, "quotad run pid=1 host=a")
        a.close()  # a stopping daemon releases everything
        assert b.acquire("outbox").held and b.acquire("slurm_poll:c1").held
    finally:
        a.close()
        b.close()
        engine.dispose()


@pytest.mark.postgres
def test_the_same_job_on_another_ledger_is_another_lock(pg_url: str) -> None:
    other = pg_url.replace("search_path%3D", "search_path%3Dpublic_")  # another schema: another ledger
    one, two = create_engine(pg_url), create_engine(other)
    a, b = PgJobLocks(one, name="a"), PgJobLocks(two, name="b")
    try:
        assert a.acquire("outbox").held and b.acquire("outbox").held
    finally:
        a.close()
        b.close()
        one.dispose()
        two.dispose()
    assert lock_key("test.s1", "outbox") == lock_key("test.s1", "outbox") != lock_key("test.s2", "outbox")


class HeldElsewhere:
    def __init__(self) -> None:
        self.holder = "quotad run pid=77 host=b"

    def acquire(self, job_id: str) -> Acquired:
        return Acquired(not self.holder, self.holder)

    def release(self, job_id: str) -> None:
        return None

    def close(self) -> None:
        return None


def test_a_run_left_to_the_other_daemon_is_recorded_and_is_not_staleness() -> None:
    clock = [1000.0]
    health = JobHealth(lambda: clock[0])
    ran: list[str] = []
    job = ScheduledJob("policy_tick", JobDef("policy_tick", lambda ctx: ran.append("x"), 60, 120), 60, 120)
    health.register(job.id, stale_after_s=120)
    locks = HeldElsewhere()
    for _ in range(3):
        clock[0] += 60
        guarded(job, lambda j: None, health, lambda: clock[0], locks)  # type: ignore[arg-type, return-value]
    assert ran == []
    status, body = healthz(health.snapshot(), now=clock[0], instance="quotad run pid=1 host=a")
    info = body["jobs"]["policy_tick"]
    assert status == 200 and body["instance"] == "quotad run pid=1 host=a"  # 180 s without a run, not stale
    assert info["skipped_total"] == 3 and info["held_by"] == "quotad run pid=77 host=b"
    assert info["ran_here"] is False and info["runs_total"] == 0 and info["last_skipped_age_s"] == 0
    locks.holder = ""  # the other daemon is gone: this one runs the job
    clock[0] += 60
    guarded(job, lambda j: None, health, lambda: clock[0], locks)  # type: ignore[arg-type, return-value]
    info = healthz(health.snapshot(), now=clock[0])[1]["jobs"]["policy_tick"]
    assert ran == ["x"] and info["ran_here"] is True and info["held_by"] is None and info["last_run_age_s"] == 0


class Recorded:
    """Locks that are always this daemon's, recording what was given back."""

    def __init__(self) -> None:
        self.released: list[str] = []
        self.closed = False

    def acquire(self, job_id: str) -> Acquired:
        return Acquired(True)

    def release(self, job_id: str) -> None:
        self.released.append(job_id)

    def close(self) -> None:
        self.closed = True


def test_a_failed_run_a_removed_job_and_a_stop_give_the_lock_back() -> None:
    from quotad.daemon.scheduler import JobScheduler

    def boom(ctx: object) -> None:
        raise RuntimeError("sacct is broken on this host")

    health = JobHealth(time.time)
    locks = Recorded()
    failing = ScheduledJob("slurm_poll:c1", JobDef("slurm_poll", boom, 60, 120), 60, 120, "c1")
    health.register(failing.id, stale_after_s=120)
    guarded(failing, lambda j: None, health, time.time, locks)  # type: ignore[arg-type, return-value]
    assert locks.released == ["slurm_poll:c1"]  # the other daemon may try it at its next run
    scheduler = JobScheduler(
        health=health, context=lambda j: None, clock=time.time, max_workers=1, locks=locks  # type: ignore[arg-type, return-value]
    )
    later = ScheduledJob("digest", JobDef("digest", lambda ctx: None, 60, 120, run_at_start=False), 60, 120)
    scheduler.start([later])
    scheduler.apply([])  # a reload that drops the job
    assert locks.released == ["slurm_poll:c1", "digest"] and not locks.closed
    scheduler.shutdown()
    assert locks.closed


# --- the outbox with two senders -------------------------------------------------------------------------------


class Recording:
    """A transport that records what it was given; the first send of each thread waits at ``barrier``."""

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier
        self.sent: list[tuple[str, str]] = []
        self.first = threading.local()

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, Any]:
        if not getattr(self.first, "done", False):
            self.first.done = True
            self.barrier.wait(PATIENCE_S)  # both senders hold a row at once: neither waits for the other's lock
        mid = next(line for line in raw.decode().splitlines() if line.lower().startswith("message-id:"))
        self.sent.append((threading.current_thread().name, mid.split(":", 1)[1].strip()))
        return {}

    def close(self) -> None:
        return None


@pytest.mark.postgres
def test_two_senders_skip_each_others_rows_and_send_each_message_once(pg_engine: Engine) -> None:
    ids = queue(pg_engine, *(f"notice:{n}:1" for n in range(12)))
    transport = Recording(threading.Barrier(2))
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            deliver(pg_engine, transport, now=NOW, config=CONFIG)  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, name=f"sender-{n}") for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE_S)
    assert errors == []
    assert sorted(mid for _, mid in transport.sent) == sorted(ids)  # every message, once
    assert {name for name, _ in transport.sent} == {"sender-1", "sender-2"}
    with pg_engine.connect() as conn:
        assert {v.state for v in list_outbox(conn)} == {"sent"} and {v.attempts for v in list_outbox(conn)} == {1}


_BLOCKED_SENDER = """
import sys, time
from sqlalchemy import create_engine
from quotad.notify.config import OutboxConfig
from quotad.notify.outbox import deliver

class Hangs:
    def send(self, sender, recipients, raw):
        print("sending", flush=True)
        time.sleep(120)
    def close(self):
        pass

deliver(create_engine(sys.argv[1]), Hangs(), now=int(sys.argv[2]), config=OutboxConfig())
"""


@pytest.mark.postgres
def test_a_sender_killed_mid_send_leaves_the_message_queued_for_the_other_at_once(
    pg_engine: Engine, pg_url: str, smtp_server: SmtpServer
) -> None:
    (mid,) = queue(pg_engine, "notice:9:1")
    victim = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_BLOCKED_SENDER), pg_url, str(NOW)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == "sending"
        # while it holds the row, another sender finds nothing to send (skipped, not waited for)
        assert deliver(pg_engine, smtp(smtp_server.port), now=NOW, config=CONFIG).sent == ()
        victim.send_signal(signal.SIGKILL)
        victim.wait(PATIENCE_S)
    finally:
        if victim.poll() is None:
            victim.kill()
    with pg_engine.connect() as conn:
        (view,) = list_outbox(conn)
    assert view.state == "queued" and view.attempts == 0  # rolled back with the dead connection: not lost

    def delivered() -> tuple[str, ...]:
        return deliver(pg_engine, smtp(smtp_server.port), now=NOW, config=CONFIG).sent  # no lease to wait for

    deadline = time.monotonic() + PATIENCE_S
    sent = delivered()
    while not sent and time.monotonic() < deadline:  # PostgreSQL ends the dead client's session at its pace
        time.sleep(0.1)
        sent = delivered()
    assert sent == (mid,)
    assert [r.message["Message-ID"] for r in smtp_server.mailbox.transmissions] == [mid]


# --- SQLite: one daemon per ledger -----------------------------------------------------------------------------


def _start(config: Path, port: int) -> tuple[subprocess.Popen[str], Path]:
    """``quotad run`` from the venv, and its log: a file (a pipe nobody reads would fill up and block it)."""
    log = config.parent / f"run-{port}.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen([str(QUOTAD), "-c", str(config), "run", "--listen", f"127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=out, text=True)
    return process, log


def _wait_serving(process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while "serving /metrics" not in log.read_text(encoding="utf-8"):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"quotad run did not start (exit {process.poll()}):\n{log.read_text(encoding='utf-8')}")
        time.sleep(0.1)


def test_a_second_daemon_on_a_sqlite_ledger_is_refused_naming_the_file_and_the_first(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    config = tmp_path / "quotad.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{ledger}"\n[daemon.jobs.metrics_refresh]\nenabled = false\n',
                      encoding="utf-8")
    engine = create_ledger_engine(make_settings(f"sqlite:///{ledger}"))
    upgrade(engine)
    engine.dispose()
    first, log = _start(config, free_port())
    try:
        _wait_serving(first, log)
        second = subprocess.run([str(QUOTAD), "-c", str(config), "run", "--listen", f"127.0.0.1:{free_port()}"],
                                capture_output=True, text=True, timeout=PATIENCE_S, check=False)
        assert second.returncode == 1, second.stderr
        assert f"another quotad run (pid {first.pid}) already serves the SQLite ledger {ledger}" in second.stderr
        assert f"{ledger}.run-lock" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first one is untouched
        first.send_signal(signal.SIGKILL)  # a daemon killed outright leaves no lock behind
        first.wait(PATIENCE_S)
        with single_daemon(f"sqlite:///{ledger}") as lock:
            assert lock == tmp_path / "ledger.sqlite.run-lock" and lock.read_text().strip() == str(os.getpid())
    finally:
        if first.poll() is None:
            first.kill()


# --- two real daemons on one PostgreSQL ledger, the real Slurm test cluster and SMTP on loopback ---------------

CLUSTER = os.environ.get("QUOTAD_TEST_CLUSTER", "quotad-test")
JOBS = ("slurm_poll", "metrics_refresh", "policy_tick", "outbox", "digest", "rollup_upkeep")


def _healthz(port: int) -> dict[str, Any]:
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=PATIENCE_S) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def _wait(condition: Any, what: str, patience: float = PATIENCE_S) -> Any:
    deadline = time.monotonic() + patience
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def _pair_config(path: Path, url: str, smtp_port: int) -> None:
    tables = "".join(f"[daemon.jobs.{job}]\ninterval_s = 1\n" for job in JOBS)
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[[clusters]]\nname = "{CLUSTER}"\ndefault_gpu_type = "h100"\n'
        f'timezone = "Asia/Tokyo"\n\n[daemon]\n{tables}\n'
        f'[notify]\nsender = "quotad@example.org"\n[notify.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
        'security = "none"\ntimeout_s = 10\n',
        encoding="utf-8",
    )


@pytest.mark.postgres
@pytest.mark.slurm
def test_two_daemons_share_the_jobs_send_each_mail_once_and_one_carries_on_after_the_other_is_killed(
    tmp_path: Path, pg_url: str, pg_engine: Engine, smtp_server: SmtpServer, slurm_cluster: str
) -> None:
    from collections import Counter

    from sqlalchemy import select

    from quotad.ledger.models import Job

    config = tmp_path / "quotad.toml"
    _pair_config(config, pg_url, smtp_server.port)
    before = queue(pg_engine, *(f"notice:{n}:1" for n in range(20)))
    ports = (free_port(), free_port())
    started = [_start(config, port) for port in ports]
    daemons = [process for process, _ in started]
    try:
        for process, log in started:
            _wait_serving(process, log)
        scheduled = {f"slurm_poll:{CLUSTER}", *JOBS[1:]}

        def shared() -> dict[int, dict[str, Any]] | None:
            """Both /healthz once every job ran on one daemon and was left to it by the other, over several runs."""
            bodies = {port: _healthz(port) for port in ports}
            for job in scheduled:
                infos = [body["jobs"][job] for body in bodies.values()]
                if sum(i["runs_total"] for i in infos) < 3 or not any(i["skipped_total"] for i in infos):
                    return None
            return bodies

        bodies = _wait(shared, "every job to run several times, each on one daemon, the other skipping it")
        names = {port: body["instance"] for port, body in bodies.items()}
        assert {names[p] for p in ports} == {f"quotad run pid={d.pid} host={os.uname().nodename}" for d in daemons}
        for job in scheduled:
            holders = {names[p] for p, body in bodies.items() if body["jobs"][job]["ran_here"]}
            assert len(holders) == 1, (job, bodies)  # one daemon runs it at a time, and keeps it
            (holder,) = holders
            left = next(body["jobs"][job] for p, body in bodies.items() if names[p] != holder)
            assert left["held_by"] == holder and left["stale"] is False
        assert all(body["status"] == "ok" for body in bodies.values()), bodies
        _wait(lambda: len(smtp_server.mailbox.transmissions) >= len(before), "the queued mail to be sent")

        # kill -9 the daemon running the Slurm poll; the other takes every job over
        poll = f"slurm_poll:{CLUSTER}"
        victim_port = next(p for p in ports if bodies[p]["jobs"][poll]["ran_here"])
        survivor_port = next(p for p in ports if p != victim_port)
        victim = daemons[ports.index(victim_port)]
        victim.send_signal(signal.SIGKILL)
        victim.wait(PATIENCE_S)
        killed_at = time.monotonic()
        runs_then = {job: info["runs_total"] for job, info in _healthz(survivor_port)["jobs"].items()}

        def carried_on() -> dict[str, Any] | None:
            body = _healthz(survivor_port)
            jobs = body["jobs"]
            done = all(jobs[j]["ran_here"] and jobs[j]["runs_total"] > runs_then[j] for j in scheduled)
            return body if done else None

        body = _wait(carried_on, "the survivor to run every job")
        took_over_s = time.monotonic() - killed_at
        assert body["status"] == "ok" and all(info["held_by"] is None for info in body["jobs"].values())
        # and the ledger shows it: a Slurm job and mail that appear after the kill are polled and sent by it
        after = queue(pg_engine, *(f"notice:{n}:2" for n in range(10)))
        tag = f"pair-{uuid.uuid4().hex[:8]}"
        submitted = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "-J", tag, "-A", "acme",
                                    "--wrap", "sleep 1"], capture_output=True, text=True, check=True, timeout=60)
        slurm_job = int(submitted.stdout.split(";")[0])

        def polled() -> bool:
            with pg_engine.connect() as conn:
                return conn.scalar(select(Job.id).where(Job.cluster == CLUSTER, Job.job_id_raw == slurm_job)) is not None

        _wait(polled, f"Slurm job {slurm_job}, submitted after the kill, to reach the ledger")
        _wait(lambda: len(smtp_server.mailbox.transmissions) >= len(before) + len(after), "the later mail")
        time.sleep(2)  # a few more outbox runs: a second copy, were there one, would arrive now
        counts = Counter(str(r.message["Message-ID"]) for r in smtp_server.mailbox.transmissions)
        assert sorted(counts) == sorted(before + after) and set(counts.values()) == {1}, counts
        with pg_engine.connect() as conn:
            assert {v.state for v in list_outbox(conn)} == {"sent"}
        held = {job: [names[p][len("quotad run "):] for p in ports if bodies[p]["jobs"][job]["ran_here"]]
                for job in sorted(scheduled)}
        print(f"\nbefore the kill: {held}; killed {names[victim_port]}; the survivor ran every job again "
              f"{took_over_s:.1f} s after the kill (intervals 1 s)")
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.terminate()
                try:
                    daemon.wait(PATIENCE_S)
                except subprocess.TimeoutExpired:
                    daemon.kill()
