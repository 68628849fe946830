"""deploy/systemd/*.service: hardened, run the right command, agree with prometheus.yml and the spool story.

``systemd-analyze verify`` on the units with the real installed binary runs in tests/deploy/test_units.py
(it needs the wheel installed); here the units are checked against each other and the documented layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from quotad.agent_config import AgentConfig
from quotad.daemon.config import DaemonConfig
from tests.deploy.units import Unit, read_unit

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "systemd" / "quotad.service"
AGENT_UNIT = DEPLOY / "systemd" / "quotad-agent.service"


def test_runs_quotad_run_as_a_dedicated_user_with_hardening() -> None:
    unit = read_unit(UNIT)
    assert re.search(r"/quotad .*\brun\b", unit.one("ExecStart"))
    assert unit.one("User") == "quotad" and unit.one("Group") == "quotad"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "quotad",
        "KillSignal": "SIGTERM",
        "KillMode": "mixed",
        "CapabilityBoundingSet": "",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }.items():
        assert unit.values(key) == [value], key
    assert "2" in unit.one("RestartPreventExitStatus").split()


def test_the_agent_runs_quotad_agent_as_its_own_user_in_group_quotad() -> None:
    agent = read_unit(AGENT_UNIT)
    assert agent.exec_start()[-1] == "agent" and "--config" in agent.exec_start()
    assert agent.one("User") == "quotad-agent"
    # Group quotad: it reads /etc/quotad (0750 root:quotad) and its spool files are the daemon's group.
    assert agent.one("Group") == read_unit(UNIT).one("Group") == "quotad"
    assert agent.one("ProtectSystem") == "strict" and agent.one("NoNewPrivileges") == "yes"


def _writable(unit: Unit) -> list[Path]:
    return [Path(p.lstrip("-")) for line in unit.values("ReadWritePaths") for p in line.split()]


def test_the_daemon_may_remove_what_it_replays_from_the_agents_spool() -> None:
    """ProtectSystem=strict leaves the daemon nothing writable but what ReadWritePaths names; spool_replay
    deletes replayed windows from agent_spool_dirs, so the documented spool root must be there (for both
    units), and the agent's umask must leave the group (quotad) able to read and remove its files."""
    daemon, agent = read_unit(UNIT), read_unit(AGENT_UNIT)
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    (documented,) = re.findall(r'^agent_spool_dirs = \["([^"]+)"\]', readme, re.M)
    pattern = Path(documented)
    assert any(pattern.is_relative_to(p) for p in _writable(daemon)), (documented, _writable(daemon))
    assert any(pattern.parent.is_relative_to(p) for p in _writable(agent))
    assert Path(agent.one("WorkingDirectory")) in _writable(agent)
    umask = int(agent.one("UMask"), 8)
    assert umask & 0o070 == 0 and umask & 0o007 == 0o007  # group rwx kept, nothing for others
    # Parsed as the daemon parses it: the documented value is valid configuration.
    DaemonConfig.model_validate({"agent_spool_dirs": [documented]})


def test_prometheus_can_scrape_the_agent_where_it_listens() -> None:
    """prometheus.yml scrapes each node by name on port 9818 (agents/<cluster>.yml); the agent must listen
    on that port on an address other hosts reach, which the documented [agent] listen does."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "quotad-agent"]
    example = yaml.safe_load((DEPLOY / "prometheus" / "agents" / "nodes.yml.example").read_text(encoding="utf-8"))
    ports = {t.rsplit(":", 1)[1] for group in example for t in group["targets"]}
    hosts = {t.rsplit(":", 1)[0] for group in example for t in group["targets"]}
    assert job["file_sd_configs"][0]["files"] == ["agents/*.yml"] and ports == {"9818"}
    assert not hosts & {"127.0.0.1", "localhost"}
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    (listen,) = re.findall(r'^\[agent\]\s*\nlisten = "([^"]+)"', readme, re.M)
    host, port = listen.rsplit(":", 1)
    assert port == "9818" and host not in ("127.0.0.1", "localhost", "[::1]")
    AgentConfig.model_validate({"listen": listen})
    assert "9818" in read_unit(AGENT_UNIT).one("Description", "Unit")


def test_the_daemon_target_is_where_the_daemon_listens_by_default() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "quotad"]
    assert job["static_configs"][0]["targets"] == [DaemonConfig().listen]


@pytest.fixture(params=[UNIT, AGENT_UNIT], ids=lambda p: p.name)
def verifiable(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The unit with ExecStart on a binary that exists here (tests/deploy/test_units.py uses the real one)."""
    unit: Path = request.param
    text = re.sub(r"ExecStart=\S+", "ExecStart=/bin/true", unit.read_text(encoding="utf-8"))
    path = tmp_path / unit.name
    path.write_text(text, encoding="utf-8")
    return path


def test_systemd_analyze_security(verifiable: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze not found: .ci/run installs the systemd package")
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(verifiable)], capture_output=True, text=True, check=False
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert match is not None, security.stdout + security.stderr
    assert float(match.group(1)) <= 2.0
