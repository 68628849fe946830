"""Read a systemd unit file the way the rehearsal needs it: sections, repeated keys, comments, continuations.

Why not configparser: unit files repeat keys (``SystemCallFilter=`` twice, ``Environment=`` many times) and
an empty assignment resets a list; configparser rejects the first and has no notion of the second.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Unit:
    path: Path
    sections: dict[str, dict[str, list[str]]]

    def values(self, key: str, section: str = "Service") -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def one(self, key: str, section: str = "Service") -> str:
        (value,) = self.values(key, section)
        return value

    def exec_start(self) -> list[str]:
        """ExecStart's argv, split as systemd splits it (quotes; no shell)."""
        return shlex.split(self.one("ExecStart"))

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for line in self.values("Environment"):
            for item in shlex.split(line):
                key, _, value = item.partition("=")
                env[key] = value
        return env

    def seconds(self, key: str) -> float:
        """A time span such as ``330``, ``30s``, ``5min`` or ``1min 30s``, in seconds."""
        units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "ms": 0.001}
        total = 0.0
        for part in self.one(key).split():
            number = part.rstrip("abcdefghijklmnopqrstuvwxyz")
            total += float(number) * units[part[len(number):]]
        return total


def read_unit(path: Path) -> Unit:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"{path}: not a unit line: {raw!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        if value == "":
            current[key] = [""]  # an empty assignment resets the list (kept, so "no capabilities" is visible)
        else:
            current.setdefault(key, []).append(value)
    return Unit(path, sections)
