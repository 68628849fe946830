"""``ADDR:PORT`` listen addresses, as the daemon's and the node agent's configuration and options write them."""

from __future__ import annotations

import re

__all__ = ["parse_listen"]

_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]*):(?P<port>\d{1,5})$")


def parse_listen(value: str, *, any_port: bool = True, example: str = "127.0.0.1:9817") -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` for IPv6, empty ADDR for every address) to (addr, port); port 0 (any free
    port) only with ``any_port``. ``example`` is shown in the error."""
    match = _LISTEN.match(value)
    port = int(match.group("port")) if match else -1
    if match is None or not (0 if any_port else 1) <= port < 65536:
        raise ValueError(f"{value!r}: expected ADDR:PORT such as {example}")
    return match.group("host").strip("[]"), port
