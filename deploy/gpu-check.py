"""Helper of ``deploy/gpu-check.sh``: run the real agent code for N seconds and report what it saw.

It builds the agent exactly as ``quotad agent`` does (``open_agent`` + ``serve``, the APScheduler service with
its ``/metrics`` endpoint) against real pynvml, or with ``--fake`` against a scenario naming ``--load-pid``,
with Slurm switched off (attribution from /proc only), then prints every GPU's identity and readings, the
processes seen and the job each maps to, the rows written to the ledger, and a verdict:

    exit 0  PASS: the load's process was seen on a GPU and attributed to --job, with utilisation > 0
    exit 1  FAIL: what is missing is printed
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from quotad.agent_config import AgentConfig
from quotad.collectors.nvml.agent import NodeView
from quotad.collectors.nvml.service import open_agent, serve
from quotad.config import load_config
from quotad.ledger.db import create_ledger_engine
from quotad.ledger.telemetry import job_gpu_totals

MIB = 1024 * 1024


def fake_scenario(path: Path, pid: int) -> Path:
    """A 2-GPU scenario with the load's pid busy on GPU 1 (NVML index 1, minor 0: orders differ)."""
    devices = [
        {"uuid": "GPU-fake-0", "minor": 1, "util": [[0, 0]], "memory_used_mib": [[0, 4]]},
        {
            "uuid": "GPU-fake-1",
            "minor": 0,
            "util": [[0, 87]],
            "memory_used_mib": [[0, 1030]],
            "power_w": [[0, 310]],
            "processes": [{"pid": pid, "used_memory_mib": 1024}],
        },
    ]
    path.write_text(json.dumps({"devices": devices}))
    return path


def print_view(view: NodeView) -> None:
    print(f"\n== sampled on {view.node} (driver {view.driver_version}) ==")
    for g in view.gpus:
        r = g.reading
        ident = g.identity
        print(f"GPU {ident.index} {ident.uuid} {ident.name!r} minor={ident.minor} bus={ident.pci_bus_id}")
        if r is None:
            print("   no reading")
            continue
        if r.lost:
            print("   LOST")
            continue
        mem = f"{r.mem_used // MIB}/{r.mem_total // MIB} MiB" if r.mem_used is not None and r.mem_total else "?"
        power = f"{r.power_mw / 1000:.1f} W" if r.power_mw is not None else "n/a"
        print(
            f"   util {r.util_gpu}%  mem-util {r.util_mem}%  mem {mem}  power {power}  energy {r.energy_mj} mJ  "
            f"sm {r.sm_clock_mhz} MHz  reasons {r.clock_reasons}  ecc {r.ecc_uncorrected}"
        )
        if g.unsupported:
            print(f"   unsupported: {', '.join(sorted(g.unsupported))}")
        for p in r.processes:
            print(f"   process pid {p.pid} using {None if p.used_memory is None else p.used_memory // MIB} MiB")
        for h in g.ownership.holders:
            print(
                f"   held by job {h.job_id}: allocated={h.allocated} process_seen={h.process_seen} "
                f"foreign_processes={h.foreign_processes}"
            )
        if g.ownership.unattributed_processes:
            print(f"   {g.ownership.unattributed_processes} process(es) belong to no job")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=1)
    parser.add_argument("--port", type=int, default=19818)
    parser.add_argument("--job", type=int, required=True, help="the SLURM_JOB_ID the load was started with")
    parser.add_argument("--load-pid", type=int, default=0, help="pid of the load (reported; --fake puts it on a GPU)")
    parser.add_argument("--fake", action="store_true", help="fake NVML (dry run without a GPU)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    settings = load_config(args.config)
    config = AgentConfig(
        interval_s=args.interval,
        flush_interval_s=10,
        spool_dir=args.spool,
        listen=f"127.0.0.1:{args.port}",
        node="gpu-check",
        job_discovery=(),
    )
    fake = fake_scenario(args.spool.parent / "scenario.json", args.load_pid) if args.fake else None
    parts = open_agent(settings, config, fake=fake, slurm=False)
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(parts, config), kwargs={"stop": stop, "listen": config.listen_address}, daemon=True
    )
    thread.start()
    best: NodeView | None = None
    scraped: set[str] = set()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and thread.is_alive():
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
        view = parts.agent.view()
        if any(h.job_id == args.job for g in view.gpus for h in g.ownership.holders):
            best = view
        if not scraped and view.gpus:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/metrics", timeout=5) as response:
                    text = response.read().decode()
                scraped = {f.name for f in text_string_to_metric_families(text)}
            except OSError as exc:
                print(f"scrape failed: {exc}", file=sys.stderr)
    stop.set()
    thread.join(timeout=30)
    if not parts.agent.view().gpus:
        print("FAIL: the agent did not start (see the error above)")
        return 1
    print_view(best or parts.agent.view())
    print(f"\n/metrics families: {', '.join(sorted(n for n in scraped if n.startswith('quotad_gpu')))}")
    print(f"counters: {dict(sorted((f'{n}{dict(k)}', v) for (n, k), v in parts.counters.snapshot().items()))}")

    engine = create_ledger_engine(settings)
    with engine.connect() as conn:
        totals = job_gpu_totals(conn, start=0, end=2**40)
    print("\n== ledger: per-job totals ==")
    for t in totals:
        mean = f"{t.util_mean:.1f}" if t.util_mean is not None else "-"
        print(
            f"job {t.job_id}: {t.gpus} GPU(s), observed {t.observed_gpu_seconds} GPU-s, idle {t.idle_gpu_seconds}, "
            f"allocated {t.allocated_gpu_seconds}, util mean {mean}%, mem max {t.mem_used_max // MIB} MiB, "
            f"energy {t.energy_mj} mJ"
        )
    problems = []
    view = best or parts.agent.view()
    held = [(g, h) for g in view.gpus for h in g.ownership.holders if h.job_id == args.job]
    if not held:
        pids = {p.pid for g in view.gpus if g.reading for p in g.reading.processes}
        problems.append(
            f"no GPU attributed to job {args.job}; processes seen on GPUs: {sorted(pids) or 'none'}; load pid "
            f"{args.load_pid} (a different pid namespace, e.g. a container, would explain a mismatch)"
        )
    elif not any(h.process_seen for _, h in held):
        problems.append(f"job {args.job} held a GPU but its process was not seen")
    mine = [t for t in totals if t.job_id == args.job]
    if not mine:
        problems.append(f"no ledger row for job {args.job}")
    elif not mine[0].util_pct_seconds:
        problems.append(f"job {args.job}'s GPU showed no utilisation (is the load running on it?)")
    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        return 1
    gpus = ", ".join(str(g.identity.index) for g, _ in held)
    print(f"PASS: job {args.job} (pid {args.load_pid}) attributed on GPU {gpus}, sampled and written to the ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
