"""Slurm hostlist expressions (``gpu[01-03,07]``, ``a,b[1-2]``, ``r[1-2]n[1-2]``) read strictly.

Why here and not a package: the one on PyPI that does this (python-hostlist) is GPL, and what quotad needs is
small: the scheduler prints these in ``sacct``'s NodeList, ``scontrol show job``'s ``Nodes=`` and gres.conf,
and a maintenance window names its nodes the same way. The reading matches ``scontrol show hostnames`` (the
test against the real cluster compares them): ranges are decimal, ``lo-hi`` with ``lo <= hi``, padded to the
width of ``lo``; several bracket groups in one name multiply out. It is stricter than Slurm in one way only:
what Slurm would silently misread (an unclosed or nested bracket, an empty or reversed range) is a
``ValueError`` naming the expression, so a garbled NodeList is reported instead of matched against nothing.

``hostlist_size`` counts without expanding, so a parser can check an expression cheaply and refuse one that
names absurdly many hosts before anything expands it.
"""

from __future__ import annotations

import itertools
import math
import re
from functools import lru_cache

__all__ = ["MAX_HOSTS", "expand_hostlist", "hostlist_size", "hosts_in"]

#: More hosts than any cluster has: an expression naming more is refused rather than expanded.
MAX_HOSTS = 100_000
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")

#: One name pattern: literal text and bracket groups, each group a tuple of (lo, hi) digit strings.
_Piece = str | tuple[tuple[str, str], ...]


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets (empty items dropped, as Slurm does)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in items if item]


def _group(expr: str, spec: str) -> tuple[tuple[str, str], ...]:
    ranges = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"hostlist {expr!r}: [{spec}] holds {part!r}, expected N or N-M (decimal)")
        lo, hi = match.group(1), match.group(2) or match.group(1)
        if int(hi) < int(lo):
            raise ValueError(f"hostlist {expr!r}: range {part!r} runs backwards")
        ranges.append((lo, hi))
    return tuple(ranges)


def _item(expr: str, item: str) -> tuple[_Piece, ...]:
    pieces: list[_Piece] = []
    for text in re.split(r"(\[[^\[\]]*\])", item):
        if not text:
            continue
        if text.startswith("[") and text.endswith("]"):
            pieces.append(_group(expr, text[1:-1]))
        elif "[" in text or "]" in text:
            raise ValueError(f"hostlist {expr!r}: unbalanced or nested brackets in {item!r}")
        elif any(ch.isspace() for ch in text):
            raise ValueError(f"hostlist {expr!r}: host name {item!r} contains white space")
        else:
            pieces.append(text)
    return tuple(pieces)


@lru_cache(maxsize=4096)
def _parse(expr: str) -> tuple[tuple[tuple[_Piece, ...], ...], int]:
    """(items, host count) of ``expr``; memoised, since a history repeats a few hundred node lists."""
    items = tuple(_item(expr, item) for item in _split_top(expr.strip()))
    size = 0
    for pieces in items:
        size += math.prod(
            sum(int(hi) - int(lo) + 1 for lo, hi in piece) for piece in pieces if not isinstance(piece, str)
        )
        if size > MAX_HOSTS:
            raise ValueError(f"hostlist {expr[:80]!r} names more than {MAX_HOSTS} hosts")
    return items, size


def hostlist_size(expr: str) -> int:
    """How many host names ``expr`` stands for (duplicates counted); ``ValueError`` if it is malformed."""
    return _parse(expr)[1]


def _choices(piece: _Piece) -> list[str]:
    if isinstance(piece, str):
        return [piece]
    return [str(n).zfill(len(lo)) for lo, hi in piece for n in range(int(lo), int(hi) + 1)]


def expand_hostlist(expr: str) -> list[str]:
    """Every host name of ``expr`` in Slurm's order (duplicates kept); ``ValueError`` if it is malformed."""
    names: list[str] = []
    for pieces in _parse(expr)[0]:
        names.extend("".join(combo) for combo in itertools.product(*(_choices(p) for p in pieces)))
    return names


def hosts_in(expr: str) -> frozenset[str]:
    """The set of host names of ``expr`` (memoised: matching asks for the same node lists again and again)."""
    return _hosts_in(expr)


@lru_cache(maxsize=4096)
def _hosts_in(expr: str) -> frozenset[str]:
    return frozenset(expand_hostlist(expr))
