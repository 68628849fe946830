"""Slurm's GPU numbering on this node: which device minor number each GRES index (``IDX``) stands for.

Why this exists: ``scontrol show job -d`` names a job's GPUs by GRES index, the position of the device in
gres.conf's ``File=`` list for the node, while NVML numbers GPUs in PCI order. ``File=/dev/nvidiaN`` names the
device minor N, which NVML also reports (``nvmlDeviceGetMinorNumber``), so IDX -> file -> minor -> NVML index
is exact even where the two orders differ. A real device file gives its minor from ``stat``; a path that is
not a character device (the test cluster's fake files) gives the number at the end of its name.

Precedence: ``[agent] gres_minors`` (explicit, for unusual set-ups) > gres.conf lines for this node with
``Name=gpu`` and ``File=`` > none (the caller then maps IDX n to minor n and logs that it is guessing, which
is what Slurm itself does with ``AutoDetect=nvml``: devices ordered by minor number).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from quotad.collectors.nvml.slurm import expand_hostlist

__all__ = ["gres_minors", "minor_of", "parse_gres_conf"]

log = logging.getLogger("quotad.agent.gres")
_TRAILING_DIGITS = re.compile(r"(\d+)$")


def _pairs(line: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            found[key.lower()] = value
    return found


def parse_gres_conf(text: str, node: str) -> list[str]:
    """Device files of this node's ``Name=gpu`` lines, in GRES index order (order of appearance)."""
    files: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pairs = _pairs(line)
        if pairs.get("name") != "gpu" or "file" not in pairs:
            continue
        nodes = pairs.get("nodename")
        if nodes is not None and node not in expand_hostlist(nodes):
            continue
        files.extend(expand_hostlist(pairs["file"]))
    return files


def minor_of(path: str) -> int | None:
    """A character device's minor number; else the digits that end the file name (fake GPUs)."""
    try:
        info = os.stat(path)
    except OSError:
        info = None
    if info is not None and stat.S_ISCHR(info.st_mode):
        return os.minor(info.st_rdev)
    match = _TRAILING_DIGITS.search(Path(path).name)
    return int(match.group(1)) if match else None


def gres_minors(gres_conf: Path, node: str, *, override: Sequence[int] | None = None) -> tuple[int, ...] | None:
    """Minor number per GRES index, or None when neither the override nor gres.conf tells."""
    if override is not None:
        return tuple(override)
    try:
        text = gres_conf.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        log.warning("cannot read %s (%s): GRES index n is taken to be /dev/nvidia<n>", gres_conf, exc.strerror)
        return None
    files = parse_gres_conf(text, node)
    if not files:
        log.warning(
            "%s has no Name=gpu File= line for node %s: GRES index n is taken to be /dev/nvidia<n>", gres_conf, node
        )
        return None
    minors = [minor_of(f) for f in files]
    if any(m is None for m in minors):
        bad = [f for f, m in zip(files, minors, strict=True) if m is None]
        log.warning("cannot tell the device minor of %s: GRES index n is taken to be /dev/nvidia<n>", bad)
        return None
    return tuple(m for m in minors if m is not None)
