"""deploy/systemd/quotad.service: hardened, runs `quotad run`, and systemd itself accepts it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "systemd" / "quotad.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_runs_quotad_run_as_a_dedicated_user_with_hardening() -> None:
    d = directives()
    assert re.search(r"/quotad .*\brun\b", d["ExecStart"][0])
    assert d["User"] == ["quotad"] and d["Group"] == ["quotad"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "quotad",
        "KillSignal": "SIGTERM",
        "KillMode": "mixed",
        "CapabilityBoundingSet": "",
    }.items():
        assert d[key] == [value], key
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "2" in d["RestartPreventExitStatus"][0]


@pytest.fixture
def verifiable(tmp_path: Path) -> Path:
    """The unit with ExecStart on a binary that exists here (verify checks the executable is present)."""
    text = re.sub(r"ExecStart=\S+", "ExecStart=/bin/true", UNIT.read_text(encoding="utf-8"))
    path = tmp_path / "quotad.service"
    path.write_text(text, encoding="utf-8")
    return path


def test_systemd_analyze_verify_and_security(verifiable: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    verify = subprocess.run([analyze, "verify", str(verifiable)], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(verifiable)], capture_output=True, text=True, check=False
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert match is not None, security.stdout + security.stderr
    assert float(match.group(1)) <= 2.0
