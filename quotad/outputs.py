"""Writing files where the operator said: an output folder or file that may already hold hostile entries.

Why not ``Path.write_text``: it follows a symbolic link that someone planted in the output folder, so
``quotad site build /srv/www`` with ``/srv/www/en/index.html -> ~/.ssh/authorized_keys`` would overwrite the
link's target. Here every file is written to a fresh temporary file beside it and renamed over the name
(``os.replace`` replaces a link itself, never its target), and a link where a folder should be is removed and a
real folder made. A reader therefore never sees a half-written page either. Every ``OSError`` becomes a
``UsageError`` naming the path: an output path that is a file, unwritable or missing is the operator's to fix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from quotad.errors import UsageError

__all__ = ["output_folder", "write_output"]


def _refuse(path: Path, what: str, exc: OSError) -> UsageError:
    return UsageError(f"{path}: cannot {what}: {exc.strerror or exc}")


def output_folder(out: Path, *, create_parents: bool = True) -> Path:
    """``out`` as a writable folder (created if missing); a ``UsageError`` when it is a file or not writable."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: is not a folder: give a folder to write into")
    if not out.exists():
        if not create_parents and not out.parent.is_dir():
            raise UsageError(f"{out.parent}: no such folder")
        try:
            out.mkdir(parents=create_parents, exist_ok=True)
        except OSError as exc:
            raise _refuse(out, "create the folder", exc) from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the folder is not writable by this user")
    return out


def _subfolder(folder: Path) -> None:
    """A real folder at ``folder``: a symbolic link there (to anywhere) is removed first, never followed."""
    try:
        if folder.is_symlink():
            folder.unlink()
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise _refuse(folder, "create the folder", exc) from exc
    if not folder.is_dir():
        raise UsageError(f"{folder}: is not a folder")


def write_output(path: Path, content: str | bytes, *, make_folders_under: Path | None = None) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` without following a link at ``path``.

    ``make_folders_under``: the output root; the folders between it and ``path`` are made (links there
    replaced by folders). Without it the parent folder must exist: ``--out missing/dir/file`` is refused
    rather than creating folders the operator may have mistyped.
    """
    parent = path.parent
    if make_folders_under is not None:
        for folder in reversed(path.relative_to(make_folders_under).parents):
            if str(folder) != ".":
                _subfolder(make_folders_under / folder)
    elif not parent.is_dir():
        raise UsageError(f"{path}: the folder {parent} does not exist")
    if path.is_dir() and not path.is_symlink():
        raise UsageError(f"{path}: is a folder: give a file name")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        fd, temp = tempfile.mkstemp(dir=parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
    except OSError as exc:
        raise _refuse(path, "write", exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0600 would hide a site page from the web server
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise _refuse(path, "write", exc) from exc
    return path
