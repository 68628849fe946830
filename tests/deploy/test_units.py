"""``systemd-analyze verify`` accepts both units with ExecStart on the installed binary (not a stand-in).

verify checks that the executable exists and is executable, so the units' ``/opt/quotad/venv/bin/quotad``
is rewritten to the same path under the scratch root the wheel was installed in; nothing else changes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, VENV_PATH, Installed
from tests.deploy.units import read_unit

pytestmark = pytest.mark.deploy
UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_with_the_installed_binary(unit: Path, installed: Installed, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze not found: .ci/run installs the systemd package")
    (binary, *_) = read_unit(unit).exec_start()
    assert binary == f"/{VENV_PATH}/bin/quotad"
    text = unit.read_text(encoding="utf-8").replace(binary, str(installed.bin("quotad")))
    assert text.count(str(installed.bin("quotad"))) == 1
    (tmp_path / unit.name).write_text(text, encoding="utf-8")
    verify = subprocess.run([analyze, "verify", str(tmp_path / unit.name)], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    # The same with a binary that is not there is refused: the check above is not vacuous.
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / unit.name).write_text(unit.read_text(encoding="utf-8").replace(
        binary, str(tmp_path / "nowhere" / "quotad")), encoding="utf-8")
    refused = subprocess.run([analyze, "verify", str(tmp_path / "missing" / unit.name)], capture_output=True,
                             text=True, check=False)
    assert refused.returncode != 0 and "nowhere" in refused.stderr
