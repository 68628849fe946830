"""Benchmark: one full collector poll against the bare ``sacct`` command it runs, in the same run.

Needs the project's Slurm test cluster with at least 10,000 finished jobs in its accounting. Building that
history takes about nine minutes, so it is done once, on request, and never in CI:

    .venv/bin/python bench/collect.py --build-history   # sbatch --array=0-9999 --wrap true, then wait
    .venv/bin/python bench/collect.py                   # figures

Prints the median of ``--repeat`` runs of each, and the ratio poll / bare sacct (target <= 1.25).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quotad.collectors.runner import SubprocessRunner
from quotad.collectors.slurm import poll_cluster, sacct_argv, sacct_env
from quotad.config import Settings
from quotad.ledger.db import create_ledger_engine, upgrade

CLUSTER = "quotad-test"
SINCE = 1_577_836_800  # 2020-01-01: the whole history
NEEDED = 10_000


def finished_jobs() -> int:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--allusers", "--starttime=2020-01-01", "--endtime=now", "--state=CD,F,CA,TO",
         "--format=JobIDRaw"], capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def build_history() -> None:
    subprocess.run(["sbatch", "-A", "fuji", "-o", "/dev/null", "-J", "bench-history", f"--array=0-{NEEDED - 1}",
                    "--wrap", "true"], check=True)
    while (queued := subprocess.run(["squeue", "-h", "-n", "bench-history", "-r"], capture_output=True,
                                    text=True).stdout.count("\n")) > 0:
        print(f"  {queued} array tasks still queued or running", flush=True)
        time.sleep(30)


def bare_sacct(settings: Settings) -> float:
    cluster = settings.clusters[0]
    argv = sacct_argv(cluster, start=SINCE)
    started = time.perf_counter()
    with SubprocessRunner().stream(argv, env=sacct_env(cluster), timeout_s=600) as lines:
        for _ in lines:
            pass
    return time.perf_counter() - started


def one_poll(tmp: Path, run: int) -> tuple[float, int]:
    settings = Settings(database={"url": f"sqlite:///{tmp / f'ledger-{run}.sqlite'}"},
                        clusters=[{"name": CLUSTER, "default_gpu_type": "h100"}])
    engine = create_ledger_engine(settings)
    upgrade(engine)
    started = time.perf_counter()
    result = poll_cluster(engine, settings, CLUSTER, runner=SubprocessRunner(), since=SINCE)
    took = time.perf_counter() - started
    engine.dispose()
    return took, result.total("records_ok")


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--build-history", action="store_true")
    args.add_argument("--repeat", type=int, default=3)
    opts = args.parse_args()
    if opts.build_history:
        build_history()
    jobs = finished_jobs()
    if jobs < NEEDED:
        sys.exit(f"only {jobs:,} finished jobs in the test cluster's accounting; run with --build-history first")
    settings = Settings(clusters=[{"name": CLUSTER, "default_gpu_type": "h100"}])
    with tempfile.TemporaryDirectory(prefix="quotad-bench-") as tmp:
        bare, polls, records = [], [], 0
        for run in range(opts.repeat):
            bare.append(bare_sacct(settings))
            took, records = one_poll(Path(tmp), run)
            polls.append(took)
    b, p = statistics.median(bare), statistics.median(polls)
    print(f"history: {jobs:,} finished jobs, {records:,} segments per poll")
    print(f"bare sacct (median of {opts.repeat}): {b:.3f} s")
    print(f"quotad poll (median of {opts.repeat}): {p:.3f} s")
    print(f"ratio poll / bare sacct: {p / b:.2f} (target <= 1.25: {'met' if p / b <= 1.25 else 'NOT met'})")


if __name__ == "__main__":
    main()
