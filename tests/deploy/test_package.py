"""The wheel as installed: only ``quotad`` at the top of site-packages, and a ``quotad`` that works from it.

Why RECORD and not a list of names: the ``alembic`` *library* is a dependency and legitimately owns a
top-level ``alembic/``; what must not happen is quotad installing ``collectors``, ``policies`` or its
migrations folder there. Each top-level entry is attributed to the distribution whose RECORD lists it.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.deploy.conftest import Installed

pytestmark = pytest.mark.deploy


def owners(site_packages: Path) -> dict[str, set[str]]:
    """Top-level name in site-packages -> the distributions (dist-info folder names) whose RECORD lists it."""
    owned: defaultdict[str, set[str]] = defaultdict(set)
    for record in site_packages.glob("*.dist-info/RECORD"):
        for line in record.read_text(encoding="utf-8").splitlines():
            path = line.rsplit(",", 2)[0]
            if path and not path.startswith(".."):  # ../../../bin/quotad: scripts outside site-packages
                owned[path.split("/", 1)[0]].add(record.parent.name)
    return owned


def test_sdist_and_wheel_are_built(installed: Installed) -> None:
    assert installed.sdist.name == "quotad-0.1.0.tar.gz" and installed.wheel.name == "quotad-0.1.0-py3-none-any.whl"


def test_quotad_installs_nothing_but_quotad_at_the_top(installed: Installed) -> None:
    owned = owners(installed.site_packages)
    (dist_info,) = installed.site_packages.glob("quotad-*.dist-info")
    ours = {name for name, dists in owned.items() if dist_info.name in dists}
    assert ours == {"quotad", dist_info.name}
    assert (dist_info / "top_level.txt").read_text(encoding="utf-8").split() == ["quotad"]
    # Nothing at the top that no distribution claims (a stray folder the build dropped there).
    stray = {p.name for p in installed.site_packages.iterdir()} - owned.keys() - {"__pycache__"}
    assert stray == set()
    # The names the repository uses at its top level: ours live inside quotad, the alembic library is alembic's.
    assert "collectors" not in owned and "policies" not in owned and "migrations" not in owned
    assert {d.split("-")[0] for d in owned["alembic"]} == {"alembic"}
    for inside in ("collectors/sacct.py", "policies/quota_threshold.py", "migrations/env.py"):
        assert (installed.site_packages / "quotad" / inside).is_file(), inside
    assert list((installed.site_packages / "quotad" / "migrations" / "versions").glob("*.py"))


def test_the_installed_quotad_upgrades_a_sqlite_ledger(installed: Installed, tmp_path: Path) -> None:
    config = tmp_path / "quotad.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "ledger.sqlite"}"\n'
        '[[clusters]]\nname = "c1"\ndefault_gpu_type = "h100"\n',
        encoding="utf-8",
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    where = subprocess.run(
        [str(installed.bin("python")), "-c", "import quotad, quotad.collectors.sacct as s; print(quotad.__file__, s.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(installed.site_packages / "quotad") for p in where), where
    version = subprocess.run([str(installed.bin("quotad")), "--version"], capture_output=True, text=True,
                             check=False, cwd=tmp_path, env=env)
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr
    for _ in range(2):  # the second run finds the schema current and changes nothing
        upgrade = subprocess.run([str(installed.bin("quotad")), "-c", str(config), "db", "upgrade"],
                                 capture_output=True, text=True, check=False, cwd=tmp_path, env=env)
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        assert "Traceback" not in upgrade.stderr
    # A command that refuses an outdated schema (exit 2) now reads the ledger.
    status = subprocess.run([str(installed.bin("quotad")), "-c", str(config), "status"],
                            capture_output=True, text=True, check=False, cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stdout + status.stderr
