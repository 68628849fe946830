"""No figure by subtraction: when a programme-wide compute total may be published, written once for every plugin.

A company's own compute reaches the public only where it agreed (the site's ``site_companies.public`` flag,
shared as ``Plugin.disclosure``). A programme total minus the published companies' figures is what the
undisclosed companies used together. When exactly one undisclosed company used compute in a total's period,
that difference *is* its private figure, so the total is withheld (None, printed as a dash with
``WITHHELD_NOTE``). With none, the total is the published companies' own sum; with two or more, the difference
is a sum nobody can split.

Why one module beside the API: the site (``site build``) and the survey report's public edition (``programme
report --edition public``) publish totals side by side with the same per-company figures, so they must apply
the same rule; written twice, the two would drift and one of them would leak.

Why "nobody discloses" is the safe default when no plugin shares disclosure (the site is not installed): then
no company's figure is public, and a total is withheld only when exactly one company used compute in its
period, because then the total is that company's figure without any subtraction.

Totals of parts: a period total beside its months is itself a sum of those months, so the period total minus
the months shown is the withheld months' total. ``total_reveals`` therefore also withholds a period total
when the withheld parts together have exactly one undisclosed user (one company alone in two withheld
months would otherwise be revealed as the sum of them).

Accounts no company claims are in a total but in nobody's figure; they are left out of the count, as the
difference they add is not a company's private use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection

from quotad.plugins.api import Bilingual, CompanyCompute, Disclosure

__all__ = ["WITHHELD_NOTE", "combined", "disclosing", "reveals_one", "total_reveals"]

#: Printed under any table or chart holding a withheld total (a dash), in both languages.
WITHHELD_NOTE = Bilingual(
    "「—」の合計は、非公開の企業が1社だけのため、公開企業の値を差し引くとその企業の利用量が分かってしまうので掲載していません。",
    "A total shown as — is withheld: only one company keeping its figures private used compute then, so "
    "subtracting the published companies would reveal its use.",
)


def disclosing(shares: Sequence[tuple[str, Disclosure]], conn: Connection) -> frozenset[str]:
    """Every company some plugin publishes compute for (the union: any one published figure can be subtracted).

    No share at all: nobody discloses (see the module docstring)."""
    found: set[str] = set()
    for _name, share in shares:
        found |= share(conn)
    return frozenset(found)


def _used(c: CompanyCompute) -> bool:
    return bool(c.gpu_seconds or c.tflop)


def reveals_one(used: Mapping[str, CompanyCompute], disclosed: frozenset[str]) -> bool:
    """Whether a total of ``used`` (per company id) minus the disclosed companies' figures is one company's use."""
    return sum(1 for cid, c in used.items() if cid not in disclosed and _used(c)) == 1


def combined(parts: Iterable[Mapping[str, CompanyCompute]]) -> dict[str, CompanyCompute]:
    """Per company id, its use summed over ``parts`` (say, the withheld months)."""
    out: dict[str, CompanyCompute] = {}
    for part in parts:
        for cid, c in part.items():
            before = out.get(cid, CompanyCompute(0, 0))
            out[cid] = CompanyCompute(before.gpu_seconds + c.gpu_seconds, before.tflop + c.tflop)
    return out


def total_reveals(
    used: Mapping[str, CompanyCompute],
    disclosed: frozenset[str],
    *,
    withheld_parts: Iterable[Mapping[str, CompanyCompute]] = (),
) -> bool:
    """Whether a total must be withheld: its own use reveals one company, or (when it is published beside its
    parts) the parts withheld, taken together, do."""
    if reveals_one(used, disclosed):
        return True
    parts = list(withheld_parts)
    return bool(parts) and reveals_one(combined(parts), disclosed)
