"""The executable: the node agent gets its own small command line, every other command the full one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from quotad.cli.entry import wants_agent


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["agent", "--once"], True),
        (["-c", "agent", "status"], False),  # "agent" is the value of -c here
        (["--config", "/etc/q.toml", "--log-level", "DEBUG", "agent"], True),
        (["status"], False),
        (["--help"], False),
        ([], False),
    ],
)
def test_wants_agent(argv: list[str], expected: bool) -> None:
    assert wants_agent(argv) is expected


def test_agent_process_does_not_load_the_other_command_groups() -> None:
    code = (
        "import sys; sys.argv = ['quotad', 'agent', '--help']\n"
        "from quotad.cli.entry import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('quotad.cli.', 'quotad.notify', 'quotad.daemon', 'quotad.plugins.eval'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = out.strip().splitlines()[-1]
    assert "quotad.cli.agent" in loaded
    for heavy in ("quotad.cli.main", "quotad.cli.policy", "quotad.notify.smtp", "quotad.daemon.service", "quotad.plugins.eval"):
        assert f"'{heavy}'" not in loaded


def test_full_command_line_through_the_executable() -> None:
    out = subprocess.run([sys.executable, "-m", "quotad", "--help"], capture_output=True, text=True, check=True).stdout
    assert "status" in out and "agent" in out and "plugins" in out
