"""The installed product: the sdist and wheel built from this checkout and the wheel installed in a fresh venv.

Why a fixture and not the repository's own venv: everything else in the suite runs from an editable checkout,
where the top-level ``collectors/``, ``policies/`` and ``alembic/`` folders are importable by accident. Here
``python -m build`` makes the sdist and then the wheel *from the sdist* (as pip does for a source install),
and pip installs that wheel into a new venv under a scratch root laid out like the production host
(``ROOT/opt/quotad/venv``), so the tests below see only what an operator gets. The scratch root is outside
pytest's private (0700) temporary folder because the rehearsal runs the installed binary as other users.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Where the units expect the venv, relative to the scratch root (deploy/systemd/*.service, ExecStart).
VENV_PATH = Path("opt/quotad/venv")
#: The host's own interpreter, as deploy/README.md's `python3 -m venv` uses: a venv links to its interpreter,
#: and the service users must be able to run it (a pyenv under /root, for one, they cannot).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding only the wheel and its dependencies, under ``root`` (a stand-in for ``/``)."""

    root: Path
    dist: Path
    venv: Path
    sdist: Path
    wheel: Path

    @property
    def site_packages(self) -> Path:
        (found,) = (self.venv / "lib").glob("python3.*/site-packages")
        return found

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    kept = os.environ.get("QUOTAD_TEST_KEEP_INSTALLED")  # a developer's re-run: reuse (and keep) that root
    if kept and (Path(kept) / VENV_PATH / "bin" / "quotad").exists():
        root = Path(kept)
        dist = root / "dist"
        yield Installed(root, dist, root / VENV_PATH, *dist.glob("quotad-*.tar.gz"), *dist.glob("quotad-*.whl"))
        return
    root = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="quotad-installed-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    try:
        dist = root / "dist"
        # No flags: build the sdist, then the wheel from the unpacked sdist (what `pip install quotad.tar.gz` does).
        _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)])
        (sdist,) = dist.glob("quotad-*.tar.gz")
        (wheel,) = dist.glob("quotad-*.whl")
        venv = root / VENV_PATH
        venv.parent.mkdir(parents=True)
        if SYSTEM_PYTHON is None:
            pytest.fail("no python3 in /usr/bin: .ci/run installs python3-venv")
        _run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], env=env, cwd=root)
        yield Installed(root=root, dist=dist, venv=venv, sdist=sdist, wheel=wheel)
    finally:
        if not kept:
            shutil.rmtree(root, ignore_errors=True)
