"""Builders shared by the NVML agent tests (no tests here): a settable clock, scenarios, canned /proc trees."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from quotad.agent_config import AgentConfig
from quotad.collectors.nvml.fake import FakeNvml, Scenario
from quotad.collectors.nvml.service import AgentParts, build_agent
from quotad.collectors.nvml.slurm import Runner
from quotad.ledger import telemetry_models  # noqa: F401  (registers gpu_usage_hourly in Base.metadata)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvml"
#: 2026-12-01T10:00:00Z, an hour boundary.
T0 = int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp())
MIB = 1024 * 1024


class FakeClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, start: float = T0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def scenario(*devices: Mapping[str, Any], **top: Any) -> Scenario:
    return Scenario.model_validate({"devices": [dict(d) for d in devices], **top})


def fixture_scenario(name: str) -> Scenario:
    return Scenario.model_validate(json.loads((FIXTURES / name).read_text()))


def proc_tree(root: Path, procs: Mapping[int, Mapping[str, Any]]) -> Path:
    """A fake /proc: ``{pid: {"cgroup": "0::/...", "environ": {"SLURM_JOB_ID": "7"}}}``."""
    for pid, files in procs.items():
        d = root / str(pid)
        d.mkdir(parents=True, exist_ok=True)
        if "cgroup" in files:
            (d / "cgroup").write_text(files["cgroup"] + "\n")
        if "environ" in files:
            env = b"".join(f"{k}={v}".encode() + b"\0" for k, v in files["environ"].items())
            (d / "environ").write_bytes(env)
    return root


def canned_runner(outputs: Mapping[tuple[str, ...], str], calls: list[tuple[str, ...]] | None = None) -> Runner:
    """A runner answering fixed argv tuples; anything else is an 'Invalid job id' failure."""
    from quotad.collectors.nvml.errors import SlurmQueryError

    def run(argv: Sequence[str], timeout: float) -> str:
        key = tuple(argv)
        if calls is not None:
            calls.append(key)
        if key in outputs:
            return outputs[key]
        raise SlurmQueryError(key, returncode=1, stderr="slurm_load_jobs error: Invalid job id specified")

    return run


def agent_config(tmp_path: Path, **overrides: Any) -> AgentConfig:
    values: dict[str, Any] = {
        "spool_dir": tmp_path / "spool",
        "proc_root": tmp_path / "proc",
        "cgroup_root": tmp_path / "cgroup",
        "gres_conf": tmp_path / "gres.conf",
        "job_discovery": ("listpids",),
        "interval_s": 10,
    }
    values.update(overrides)
    return AgentConfig(**values)


def make_agent(
    scen: Scenario,
    *,
    engine: Engine | None,
    tmp_path: Path,
    clock: FakeClock,
    runner: Runner | None = None,
    cluster: str = "c1",
    node: str = "gpu001",
    **overrides: Any,
) -> tuple[AgentParts, FakeNvml]:
    api = FakeNvml(scen, clock=clock)
    parts = build_agent(
        agent_config(tmp_path, **overrides),
        cluster=cluster,
        node=node,
        engine=engine,
        api=api,
        runner=runner,
        clock=clock,
        sleep=lambda _seconds: None,  # the flush jitter and retry backoff are drawn but not waited for
    )
    return parts, api


def show_job(job_id: int, idx: str, *, node: str = "gpu001", account: str = "acme", state: str = "RUNNING") -> str:
    """``scontrol show job -d -o`` text in 22.05's shape (abridged to the fields the agent reads)."""
    return (
        f"JobId={job_id} JobName=train UserId=alice(1000) GroupId=alice(1000) MCS_label=N/A Priority=4285 "
        f"Account={account} QOS=normal JobState={state} Reason=None NodeList={node} BatchHost={node} "
        f"NumNodes=1 TRES=cpu=1,mem=100M,node=1,billing=1,gres/gpu=2,gres/gpu:h100=2 JOB_GRES=gpu:h100:2   "
        f"Nodes={node} CPU_IDs=0 Mem=100 GRES=gpu:h100:2(IDX:{idx}) MinCPUsNode=1 TresPerNode=gres:gpu:h100:2\n"
    )
