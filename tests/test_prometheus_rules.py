"""deploy/prometheus with Debian's promtool: rules and config valid, every alert rule unit-tested."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROM = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = PROM / "rules" / "quotad.rules.yml"
RULE_TESTS = PROM / "tests" / "quotad.rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: install Debian's prometheus package (deploy/dev/test-services does)")
    return subprocess.run([binary, *args], cwd=PROM, capture_output=True, text=True, check=False, timeout=120)


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_is_valid() -> None:
    result = promtool("check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(re.findall(r"^\s*- alert: (\w+)", RULES.read_text(encoding="utf-8"), re.M))
    tested = set(re.findall(r"^\s*- alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8"), re.M))
    required = {
        "QuotadGrantNearlyUsed", "QuotadIdleGpus", "QuotadCollectorStale", "QuotadAgentDown", "QuotadLinesRefused",
        "QuotadMailFailing", "QuotadGpuUnattributed",
    }
    assert required <= alerts
    assert alerts == tested
