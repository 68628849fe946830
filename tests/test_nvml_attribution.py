"""Attribution: Slurm's allocation (GRES IDX through the minor number) + processes on the GPU -> holders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quotad.collectors.nvml.aggregate import Aggregator
from quotad.collectors.nvml.attribution import Attributor, attribute
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.device import GpuIdentity, GpuProcess, NvmlDevices
from quotad.collectors.nvml.fake import FakeNvml
from quotad.collectors.nvml.gres import gres_minors, minor_of, parse_gres_conf
from quotad.collectors.nvml.procmap import ProcessJobs
from quotad.collectors.nvml.slurm import (
    JobAllocation,
    SlurmView,
    expand_hostlist,
    expand_indices,
    parse_listpids,
    parse_show_job,
    subprocess_runner,
)
from tests.test_nvml_support import FIXTURES, FakeClock, canned_runner, proc_tree, scenario, show_job


def _gpus(minors: list[int]) -> list[GpuIdentity]:
    return [GpuIdentity(i, f"GPU-{i}", "NVIDIA H100", m, f"0000:{i:02x}:00.0") for i, m in enumerate(minors)]


def _alloc(job: int, idx: set[int], account: str = "acme") -> JobAllocation:
    return JobAllocation(job, account, "alice", "RUNNING", frozenset(idx))


# -- parsing -------------------------------------------------------------------------------------------------


def test_real_scontrol_show_job_output_is_parsed() -> None:
    one_line = (FIXTURES / "scontrol-show-job-d-o.real-22.05.txt").read_text()
    multi_line = (FIXTURES / "scontrol-show-job-d.real-22.05.txt").read_text()
    for text in (one_line, multi_line):
        alloc = parse_show_job(text, "vm")
        assert alloc == JobAllocation(10411, "sakura", "root", "RUNNING", frozenset({1, 2}))
    assert parse_show_job(one_line, "other-node") == JobAllocation(10411, "sakura", "root", "RUNNING", frozenset())
    listed = parse_listpids((FIXTURES / "scontrol-listpids.real-22.05.txt").read_text())
    assert listed == {8945, 8946, 8948, 10410, 10411}


def test_multi_node_job_yields_this_nodes_indices_only() -> None:
    text = (
        "JobId=77 Account=fuji UserId=bob(1001) JobState=RUNNING NodeList=gpu[001-002] JOB_GRES=gpu:h100:4 "
        "Nodes=gpu001 CPU_IDs=0-3 Mem=100 GRES=gpu:h100:2(IDX:0,3) "
        "Nodes=gpu002 CPU_IDs=0-3 Mem=100 GRES=gpu:h100:2(IDX:4-5) MinCPUsNode=1"
    )
    assert parse_show_job(text, "gpu001").gres_idx == {0, 3}  # type: ignore[union-attr]
    assert parse_show_job(text, "gpu002").gres_idx == {4, 5}  # type: ignore[union-attr]
    assert expand_hostlist("gpu[001-003,010],login1") == ["gpu001", "gpu002", "gpu003", "gpu010", "login1"]
    assert expand_hostlist("r[1-2]n[1-2]") == ["r1n1", "r1n2", "r2n1", "r2n2"]
    assert expand_indices("0-2,5") == {0, 1, 2, 5}


def test_gres_conf_gives_minor_per_index(tmp_path: Path) -> None:
    text = (
        "# comment\nAutoDetect=off\n"
        "NodeName=gpu[001-004] Name=gpu Type=h100 File=/dev/nvidia[4-7]\n"
        "NodeName=gpu[001-004] Name=gpu Type=h100 File=/dev/nvidia[0-3]\n"
        "NodeName=gpu005 Name=gpu Type=a100 File=/dev/nvidia[0-1]\n"
        "Name=mps Count=100\n"
    )
    assert parse_gres_conf(text, "gpu002") == [f"/dev/nvidia{n}" for n in (4, 5, 6, 7, 0, 1, 2, 3)]
    conf = tmp_path / "gres.conf"
    conf.write_text(text)
    assert gres_minors(conf, "gpu002") == (4, 5, 6, 7, 0, 1, 2, 3)
    assert gres_minors(conf, "gpu009") is None
    assert gres_minors(tmp_path / "missing.conf", "gpu002") is None
    assert gres_minors(conf, "gpu002", override=[1, 0]) == (1, 0)
    assert minor_of("/dev/null") == os.minor(os.stat("/dev/null").st_rdev)  # a real character device
    assert minor_of(str(tmp_path / "fakegpu" / "nvidia6")) == 6  # the test cluster's regular files


# -- pure attribution ----------------------------------------------------------------------------------------


def test_allocated_gpu_without_process_is_the_jobs_idle_gpu() -> None:
    owners = attribute(_gpus([0, 1]), {}, {}, {5: _alloc(5, {1})}, None)
    assert owners[0].holders == ()
    (holder,) = owners[1].holders
    assert (holder.job_id, holder.allocated, holder.process_seen, holder.foreign_processes) == (5, True, False, 0)


def test_gres_and_nvml_orders_differ_mapping_goes_through_the_minor() -> None:
    """NVML enumerates by PCI order; here NVML index i has minor [2, 3, 0, 1][i] and gres.conf lists minors 0-3."""
    gpus = _gpus([2, 3, 0, 1])
    owners = attribute(gpus, {}, {}, {9: _alloc(9, {0, 1}), 10: _alloc(10, {2, 3})}, (0, 1, 2, 3))
    assert [owners[i].primary.job_id for i in range(4)] == [10, 10, 9, 9]  # type: ignore[union-attr]
    # gres.conf in another order still lands on the right devices
    owners = attribute(gpus, {}, {}, {9: _alloc(9, {0})}, (3, 2, 1, 0))
    assert [i for i in range(4) if owners[i].holders] == [1]  # IDX 0 -> minor 3 -> NVML index 1


def test_foreign_and_unallocated_processes_are_reported() -> None:
    gpus = _gpus([0, 1])
    procs = {0: [GpuProcess(100, 1), GpuProcess(200, 1), GpuProcess(300, 1)], 1: [GpuProcess(200, 1)]}
    pid_jobs = {100: 5, 200: 6, 300: None}
    owners = attribute(gpus, procs, pid_jobs, {5: _alloc(5, {0})}, None)
    own, squatter = owners[0].holders
    assert (own.job_id, own.allocated, own.process_seen, own.foreign_processes, own.foreign_job_id) == (
        5,
        True,
        True,
        2,
        6,
    )
    assert (squatter.job_id, squatter.allocated, squatter.process_seen) == (6, False, True)
    assert owners[0].unattributed_processes == 1
    (only,) = owners[1].holders  # job 6 on a GPU nobody was allocated
    assert (only.job_id, only.allocated, only.process_seen) == (6, False, True)


# -- processes -> jobs ---------------------------------------------------------------------------------------


@pytest.fixture
def job_process() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "30"], env={**os.environ, "SLURM_JOB_ID": "777001"})
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_real_process_with_slurm_job_id_in_its_environment(job_process: subprocess.Popen[bytes]) -> None:
    jobs = ProcessJobs(Path("/proc"))
    assert jobs.job_of(job_process.pid) == 777001
    assert jobs.job_of(os.getpid()) == (int(os.environ["SLURM_JOB_ID"]) if "SLURM_JOB_ID" in os.environ else None)
    assert jobs.job_of(2**22 + 12345) is None  # no such pid
    clock = FakeClock()
    scen = scenario({"uuid": "GPU-0", "processes": [{"pid": job_process.pid}]}, {"uuid": "GPU-1"})
    devices = NvmlDevices(FakeNvml(scen, clock=clock), counters=AgentCounters())
    gpus = devices.open(clock())
    runner = canned_runner(
        {
            ("scontrol", "listpids"): "PID JOBID STEPID LOCALID GLOBALID\n1 777002 batch 0 0\n",
            ("scontrol", "show", "job", "-d", "-o", "777002"): show_job(777002, "0"),
        }
    )
    view = SlurmView(runner, node="gpu001", counters=AgentCounters(), sources=("listpids",))
    attributor = Attributor(slurm=view, processes=jobs, idx_minors=None)
    owners = attributor.ownership(gpus, devices.read_all(clock()), clock())
    allocated, squatter = owners[0].holders
    assert (allocated.job_id, allocated.allocated, allocated.process_seen, allocated.foreign_job_id) == (
        777002,
        True,
        False,
        777001,
    )
    assert (squatter.job_id, squatter.allocated, squatter.process_seen) == (777001, False, True)
    assert owners[1].holders == ()


def test_cgroup_is_read_before_environ(tmp_path: Path) -> None:
    root = proc_tree(
        tmp_path,
        {
            10: {
                "cgroup": "0::/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0",
                "environ": {"SLURM_JOB_ID": "1"},
            },
            11: {"cgroup": "12:devices:/slurm/uid_1000/job_99/step_batch\n11:memory:/slurm/uid_1000/job_99"},
            12: {"cgroup": "0::/user.slice", "environ": {"PATH": "/bin", "SLURM_JOB_ID": "555"}},
            13: {"cgroup": "0::/user.slice/job_x", "environ": {"PATH": "/bin"}},
        },
    )
    assert ProcessJobs(root).jobs_of([10, 11, 12, 13, 14]) == {10: 4242, 11: 99, 12: 555, 13: None, 14: None}


# -- Slurm view ----------------------------------------------------------------------------------------------


def test_slurm_view_caches_allocations_and_counts_failures(tmp_path: Path) -> None:
    calls: list[tuple[str, ...]] = []
    runner = canned_runner({("scontrol", "show", "job", "-d", "-o", "5"): show_job(5, "0-1")}, calls)
    counters = AgentCounters()
    (tmp_path / "system.slice" / "slurmstepd.scope" / "job_5").mkdir(parents=True)
    view = SlurmView(runner, node="gpu001", counters=counters, sources=("cgroup", "listpids"), cgroup_root=tmp_path)
    assert view.discover() == {5}  # listpids failed (not canned): counted, cgroup still answered
    assert counters.get("attribution_errors", source="listpids") == 1
    assert view.allocations({5, 6})[5].gres_idx == {0, 1}
    view.allocations({5})
    assert calls.count(("scontrol", "show", "job", "-d", "-o", "5")) == 1
    assert counters.get("attribution_errors", source="show_job") == 0  # job 6: "Invalid job id" means gone


@pytest.mark.slurm
def test_real_cluster_job_with_two_gpus_and_no_process_is_two_allocated_idle_gpus(slurm_cluster: str) -> None:
    node = socket.gethostname().split(".")[0]
    submitted = subprocess.run(
        ["sbatch", "--parsable", "-A", "acme", "--gres=gpu:h100:2", "-o", "/dev/null", "--wrap", "sleep 120"],
        capture_output=True,
        text=True,
        check=True,
    )
    job_id = int(submitted.stdout.strip().split(";")[0])
    try:
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            state = subprocess_runner(["squeue", "-h", "-j", str(job_id), "-o", "%T"], 10).strip()
            if state == "RUNNING":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"job {job_id} did not start within 25 s (state {state!r}); GPUs busy on the test cluster?")
        # NVML order deliberately differs from gres.conf's: NVML index i is /dev/nvidia(7 - i).
        clock = FakeClock()
        scen = scenario(*({"uuid": f"GPU-{i}", "minor": 7 - i} for i in range(8)))
        devices = NvmlDevices(FakeNvml(scen, clock=clock), counters=AgentCounters())
        gpus = devices.open(clock())
        counters = AgentCounters()
        view = SlurmView(subprocess_runner, node=node, counters=counters, sources=("listpids",))
        minors = gres_minors(Path("/etc/slurm/gres.conf"), node)
        assert minors == tuple(range(8))  # the cluster's fake File= entries, nvidia[0-7]
        attributor = Attributor(slurm=view, processes=ProcessJobs(), idx_minors=minors)
        aggregator = Aggregator(cluster=slurm_cluster, node=node)
        for _ in range(3):
            readings = devices.read_all(clock())
            owners = attributor.ownership(gpus, readings, clock())
            for r in readings:
                aggregator.add(r, owners[r.index])
            clock.advance(10)
        idx = parse_show_job(subprocess_runner(["scontrol", "show", "job", "-d", "-o", str(job_id)], 10), node)
        assert idx is not None and len(idx.gres_idx) == 2
        expected = {7 - i for i in idx.gres_idx}
        mine = {i for i, o in owners.items() for h in o.holders if h.job_id == job_id}
        assert mine == expected
        for i in expected:
            (holder,) = [h for h in owners[i].holders if h.job_id == job_id]
            assert holder.allocated and not holder.process_seen and holder.account == "acme"
        rows = [r for r in aggregator.rows(updated_at=int(clock())) if r.job_id == job_id]
        assert len(rows) == 2
        assert all(r.allocated and not r.job_process_seen and r.idle_seconds == r.observed_seconds == 20 for r in rows)
        assert all(r.idle_since is not None for r in rows)
        assert counters.snapshot() == {}
    finally:
        subprocess.run(["scancel", str(job_id)], check=False)
    print(f"job {job_id} on {node}: GPUs {sorted(expected)} allocated-idle", file=sys.stderr)
