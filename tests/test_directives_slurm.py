"""Enforcement on the real Slurm 22.05 test cluster (root only): a job we submit that telemetry shows idle past
the hold threshold is requeued-and-held (``scontrol requeuehold``: its GPUs freed, the job kept pending), and
with ``enforcement = "cancel"`` cancelled (``scancel``); each action logged with its command and reason. A dry
run touches nothing."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.directives.store import directive_actions, list_directives
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.notify.config import NotifyConfig
from quotad.policies.config import PoliciesConfig
from quotad.tick import policy_tick
from tests.conftest import make_settings
from tests.fixtures.policy.builders import H, Ledger

pytestmark = pytest.mark.slurm


def squeue(job: int) -> tuple[str, str]:
    out = subprocess.run(["squeue", "-h", "-j", str(job), "-o", "%T|%r"], capture_output=True, text=True,
                         check=False).stdout.strip()
    state, _, reason = out.partition("|")
    return state, reason


def rules(enforcement: str) -> Rules:
    policies = PoliciesConfig.model_validate({"idle_allocation": {"enforcement": enforcement}})
    return Rules(policies, DirectivesConfig(), NotifyConfig(programme_office=["office@programme.example.jp"]))


@pytest.fixture
def real(slurm_cluster: str, db_url: str) -> Iterator[tuple[Settings, Engine]]:
    settings = make_settings(db_url, clusters=[{"name": slurm_cluster, "default_gpu_type": "h100"}])
    engine = create_ledger_engine(settings)
    upgrade(engine)
    yield settings, engine
    engine.dispose()


@pytest.fixture
def running_job(slurm_cluster: str) -> Iterator[int]:
    tag = f"qd-enforce-{uuid.uuid4().hex[:8]}"
    out = subprocess.run(
        ["sbatch", "--parsable", "-A", "acme", "--gres=gpu:h100:1", "-J", tag, "-o", "/dev/null", "--requeue",
         "--wrap", "sleep 900"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    job = int(out.strip().split(";")[0])
    try:
        deadline = time.monotonic() + 120
        while squeue(job)[0] != "RUNNING":
            if time.monotonic() > deadline:
                pytest.fail(f"job {job} did not start within 120 s: {squeue(job)}")
            time.sleep(1)
        yield job
    finally:
        subprocess.run(["scancel", str(job)], capture_output=True, check=False)


def test_hold_then_cancel_a_real_idle_job(real: tuple[Settings, Engine], running_job: int,
                                          slurm_cluster: str) -> None:
    settings, engine = real
    now = int(time.time())
    hour = now - now % H
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=((slurm_cluster, "acme"),), contacts=("ops@acme.example.jp",))
        led.job("acme", start=now - 3 * H, elapsed=3 * H, gpus=1, state="RUNNING", cluster=slurm_cluster,
                job_id=running_job)
        # what the NVML agent would write for a GPU idle for 150 minutes (the test cluster's GPUs are fake)
        led.gpu(running_job, 0, hour, cluster=slurm_cluster, idle_since=now - 150 * 60, last_sample=now - 5,
                first_sample=hour)

    dry = policy_tick(engine, settings, rules("hold"), now=now, dry_run=True)
    assert [a.planned.command for a in dry.actions] == [f"scontrol requeuehold {running_job}"]
    assert squeue(running_job)[0] == "RUNNING"

    held = policy_tick(engine, settings, rules("hold"), now=now)
    (action,) = held.actions
    assert action.outcome == "ok", action.detail
    deadline = time.monotonic() + 30
    while squeue(running_job)[0] != "PENDING" and time.monotonic() < deadline:
        time.sleep(1)
    state, reason = squeue(running_job)
    assert state == "PENDING" and "held" in reason.lower(), (state, reason)

    cancelled = policy_tick(engine, settings, rules("cancel"), now=now + 10)
    (action,) = cancelled.actions
    assert action.outcome == "ok" and action.planned.command == f"scancel {running_job}"
    deadline = time.monotonic() + 30
    while squeue(running_job)[0] and time.monotonic() < deadline:
        time.sleep(1)
    assert squeue(running_job)[0] == ""

    with engine.connect() as conn:
        (directive,) = list_directives(conn, policy="idle_allocation")
        actions = directive_actions(conn, directive.id)
    assert [(a.action, a.command, a.outcome) for a in actions] == [
        ("hold", f"scontrol requeuehold {running_job}", "ok"),
        ("cancel", f"scancel {running_job}", "ok"),
    ]
    assert all(f"directive #{directive.id}" in a.reason for a in actions)
