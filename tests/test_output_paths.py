"""Output paths a person gives quotad: a planted symbolic link is replaced, never followed; a folder that is a
file, not writable or missing is a clear error (exit 2), never a traceback. Through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import Cli
from tests.test_review_cli import committee, ok

__all__ = ["committee"]

NOW = "2026-11-25T00:00:00"


def refused(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 2, (args, result.output, result.exception)
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    return str(result.stderr)


def test_site_build_replaces_planted_links_and_leaves_their_targets_alone(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "public"
    (out / "en").mkdir(parents=True)
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA operator\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "en" / "index.html").symlink_to(victim)
    (out / "style.css").symlink_to(victim)
    (out / "ja").symlink_to(elsewhere)  # a link where a folder of pages goes
    built = cli("site", "build", str(out), "--now", NOW)
    assert built.exit_code == 0, built.output
    assert victim.read_text(encoding="utf-8") == "ssh-ed25519 AAAA operator\n"
    assert list(elsewhere.iterdir()) == []
    assert not (out / "ja").is_symlink() and (out / "ja" / "index.html").is_file()
    assert not (out / "en" / "index.html").is_symlink() and "<html" in (out / "en" / "index.html").read_text("utf-8")
    assert oct((out / "style.css").stat().st_mode & 0o044) == oct(0o044 & ~_umask())  # readable by a web server


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_site_build_into_a_file_an_unwritable_or_impossible_folder_is_a_clear_error(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    a_file = tmp_path / "site.html"
    a_file.write_text("x", encoding="utf-8")
    assert f"{a_file}: is not a folder" in refused(cli, "site", "build", str(a_file), "--now", NOW)
    assert "Not a directory" in refused(cli, "site", "build", str(a_file / "sub"), "--now", NOW)
    if os.geteuid() != 0:  # root writes anywhere: the permission case is real only for other users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "not writable" in refused(cli, "site", "build", str(locked), "--now", NOW)
    missing = tmp_path / "new" / "deeper" / "site"  # a missing folder is created, as the help says
    assert cli("site", "build", str(missing), "--now", NOW).exit_code == 0 and (missing / "index.html").is_file()


@pytest.mark.usefixtures("committee")
def test_review_outputs_into_a_missing_folder_are_a_clear_error(
    cli: Cli, committee: dict[str, str], tmp_path: Path
) -> None:
    nowhere = tmp_path / "no-such-folder" / "out.md"
    message = refused(cli, "review", "sheet", "sel", "--summary", "--out", str(nowhere))
    assert f"the folder {nowhere.parent} does not exist" in message
    pid = committee["sakura"]
    message = refused(cli, "review", "document", "get", pid, "plan.md", "--out", str(nowhere))
    assert f"the folder {nowhere.parent} does not exist" in message
    assert "is a folder" in refused(cli, "review", "document", "get", pid, "plan.md", "--out", str(tmp_path))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    link = tmp_path / "sheet.md"
    link.symlink_to(victim)
    ok(cli, "review", "sheet", "sel", "--summary", "--out", str(link))
    assert victim.read_text(encoding="utf-8") == "keep" and not link.is_symlink()
