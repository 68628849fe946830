"""Benchmark: CPU and memory of the NVML node agent at 8 GPUs × 1 Hz, in real time, against an idle loop.

Both phases run the same APScheduler set-up the production process uses (``BackgroundScheduler``, one
executor for sampling, one for flushing) for the same wall time in the same process, one after the other:
- ``idle loop``: the scheduler firing a job that does nothing, at the same rate;
- ``agent``: ``NodeAgent.sample`` over the fake NVML (8 GPUs, each with a Slurm job's process found through a
  canned /proc tree, allocations from a canned scontrol), flushes every 60 s into a SQLite ledger, and a
  ``/metrics`` scrape every 15 s.
CPU is the process's CPU time (all threads) over wall time, in percent of one core. Targets: the agent's
difference to the idle loop ≤ 0.5 % of one core; RSS ≤ 80 MB.

    .venv/bin/python bench/agent.py [--seconds 60] [--gpus 8] [--hz 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import generate_latest

import quotad.cli.agent
import quotad.cli.entry  # noqa: F401  (what the real `quotad agent` process loads: its own command line)
from quotad.agent_config import AgentConfig
from quotad.collectors.nvml.fake import FakeNvml, Scenario
from quotad.collectors.nvml.service import AgentParts, build_agent
from quotad.config import Settings
from quotad.ledger.db import create_ledger_engine


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _scenario(gpus: int) -> Scenario:
    devices = [
        {
            "uuid": f"GPU-bench-{i:04d}",
            "minor": (i * 5) % gpus,  # NVML order differs from gres order, as on real nodes
            "util": [[0, 90], [30, 0]],
            "memory_used_mib": [[0, 70000]],
            "power_w": [[0, 650], [30, 90]],
            "processes": [{"pid": 100000 + i, "used_memory_mib": 70000}],
        }
        for i in range(gpus)
    ]
    return Scenario.model_validate({"devices": devices})


def _runner(gpus: int, node: str) -> Callable[[Sequence[str], float], str]:
    jobs = {5000 + i: i for i in range(gpus)}
    listpids = "PID JOBID STEPID LOCALID GLOBALID\n" + "".join(f"{100000 + i} {j} 0 0 0\n" for j, i in jobs.items())
    show = {
        str(j): f"JobId={j} Account=acme UserId=alice(1000) JobState=RUNNING Nodes={node} GRES=gpu:h100:1(IDX:{i})"
        for j, i in jobs.items()
    }

    def run(argv: Sequence[str], timeout: float) -> str:
        return listpids if argv[1] == "listpids" else show[argv[-1]]

    return run


def _build(tmp: Path, gpus: int, hz: float) -> AgentParts:
    proc = tmp / "proc"
    for i in range(gpus):
        d = proc / str(100000 + i)
        d.mkdir(parents=True)
        (d / "cgroup").write_text(f"0::/system.slice/slurmstepd.scope/job_{5000 + i}/step_0/user/task_0\n")
    gres = tmp / "gres.conf"
    gres.write_text(f"Name=gpu Type=h100 File=/dev/nvidia[0-{gpus - 1}]\n")
    settings = Settings(database={"url": f"sqlite:///{tmp / 'ledger.sqlite'}"})
    # The schema is created by another process, as in production (`quotad db upgrade` on the central host):
    # migrating here would load Alembic and every migration script into the process whose memory is measured.
    config_file = tmp / "quotad.toml"
    config_file.write_text(f'[database]\nurl = "sqlite:///{tmp / "ledger.sqlite"}"\n', encoding="utf-8")
    subprocess.run([sys.executable, "-m", "quotad", "-c", str(config_file), "db", "upgrade"], check=True,
                   stdout=subprocess.DEVNULL)
    engine = create_ledger_engine(settings)
    config = AgentConfig(
        interval_s=1 / hz,
        spool_dir=tmp / "spool",
        proc_root=proc,
        gres_conf=gres,
        job_discovery=("listpids",),
        flush_jitter_s=0,  # measured here: sampling and flushing, not the wait before a flush
    )
    return build_agent(
        config,
        cluster="bench",
        node="gpu001",
        engine=engine,
        api=FakeNvml(_scenario(gpus), clock=time.time),
        runner=_runner(gpus, "gpu001"),
    )


def _phase(
    seconds: float, hz: float, sample: Callable[[], object], flush: Callable[[], object], scrape: Callable[[], object]
) -> tuple[float, float]:
    scheduler = BackgroundScheduler(
        executors={"sample": ThreadPoolExecutor(1), "flush": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=UTC,
    )
    now = datetime.now(UTC)
    scheduler.add_job(sample, "interval", seconds=1 / hz, next_run_time=now, executor="sample")
    scheduler.add_job(flush, "interval", seconds=60, executor="flush")
    scheduler.add_job(scrape, "interval", seconds=15, executor="flush")
    done = threading.Event()
    wall0, cpu0 = time.monotonic(), time.process_time()
    scheduler.start()
    done.wait(seconds)
    scheduler.shutdown(wait=True)
    return time.monotonic() - wall0, time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="real seconds per phase (default 60)")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--hz", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quotad-bench-agent-") as tmp:
        parts = _build(Path(tmp), args.gpus, args.hz)
        parts.agent.start()
        parts.agent.sample()  # warm: first attribution, first buckets
        rss_before = _rss_kib("VmRSS")

        def nothing() -> None:
            return None

        idle_wall, idle_cpu = _phase(args.seconds, args.hz, nothing, nothing, nothing)
        agent_wall, agent_cpu = _phase(
            args.seconds, args.hz, parts.agent.sample, parts.agent.flush, lambda: generate_latest(parts.registry)
        )
        parts.agent.stop()
        rss, peak = _rss_kib("VmRSS"), _rss_kib("VmHWM")
        samples = parts.counters.get("samples")
    idle_pct = 100 * idle_cpu / idle_wall
    agent_pct = 100 * agent_cpu / agent_wall
    print(f"{args.gpus} GPUs × {args.hz:g} Hz, {args.seconds:g} s real time per phase, {samples} sampling rounds")
    print(f"{'phase':<12} {'wall s':>8} {'cpu s':>8} {'% of one core':>14}")
    print(f"{'idle loop':<12} {idle_wall:8.1f} {idle_cpu:8.3f} {idle_pct:13.3f}%")
    print(f"{'agent':<12} {agent_wall:8.1f} {agent_cpu:8.3f} {agent_pct:13.3f}%")
    diff = agent_pct - idle_pct
    print(
        f"{'difference':<12} {'':>8} {agent_cpu - idle_cpu:8.3f} {diff:13.3f}%   target <= 0.5 %: "
        f"{'ok' if diff <= 0.5 else 'MISSED'}"
    )
    print(
        f"RSS {rss / 1024:.1f} MB (before the phases {rss_before / 1024:.1f} MB, peak {peak / 1024:.1f} MB); "
        f"target <= 80 MB: {'ok' if peak <= 80 * 1024 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
