"""The ledger's read API: what status, reports, policies, metrics and plugins may ask.

Everything here reads the hourly rollups (never the job table, except for "what runs now"), so the cost of a
status or a monthly report does not grow with the number of jobs. Results are typed, integer-valued objects;
conversion to hours or EFLOPS happens at the display edge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, and_, exists, func, select

from quotad.amounts import NORMALISED, Amount, Unit
from quotad.errors import NotFoundError
from quotad.ledger.models import POOL, Company, CompanyAccount, Contact, Grant, GrantPlan, Job, UsageHourly
from quotad.ledger.registry import AccountRef, ContactRef
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, GpuCatalog

__all__ = [
    "REPORT_KEYS",
    "UNCLAIMED_WINDOW_S",
    "CellsSince",
    "CompanyInfo",
    "GrantInfo",
    "Position",
    "ReportRow",
    "StatusRow",
    "UsageCells",
    "company_status",
    "get_company",
    "gpus_held_now",
    "grant_position",
    "list_companies",
    "list_grants",
    "memoised_cells",
    "status_rows",
    "unclaimed_since",
    "unclaimed_usage",
    "usage_cells",
    "usage_report",
]

#: (company_id, cluster, gpu_type) -> GPU-seconds
UsageCells = dict[tuple[str, str, str], int]
ReportKey = Literal["company", "cluster", "partition", "gpu-type", "user"]
REPORT_KEYS: tuple[ReportKey, ...] = ("company", "cluster", "partition", "gpu-type", "user")
BURN_WINDOW = 7 * SECONDS_PER_DAY
#: How far back ``quotad status``'s unclaimed-accounts line and ``quotad_unclaimed_gpu_seconds`` look.
UNCLAIMED_WINDOW_S = 30 * SECONDS_PER_DAY


@dataclass(frozen=True)
class CompanyInfo:
    id: str
    name_ja: str
    name_en: str
    accounts: tuple[AccountRef, ...]
    contacts: tuple[ContactRef, ...]


@dataclass(frozen=True)
class GrantInfo:
    id: int
    company_id: str
    cluster: str
    unit: Unit
    amount: int
    period_start: int
    period_end: int
    plan: tuple[tuple[int, int], ...]
    note: str

    def covers(self, cluster: str, gpu_type: str) -> bool:
        """Whether usage on (cluster, gpu_type) counts against this grant."""
        in_scope = self.cluster in (POOL, cluster)
        return in_scope and (self.unit.normalised or self.unit.gpu_type == gpu_type)

    def active(self, at: int) -> bool:
        return self.period_start <= at < self.period_end


def list_companies(conn: Connection) -> list[CompanyInfo]:
    accounts: defaultdict[str, list[AccountRef]] = defaultdict(list)
    for acc in conn.execute(select(CompanyAccount).order_by(CompanyAccount.cluster, CompanyAccount.account)):
        accounts[acc.company_id].append(AccountRef(acc.cluster, acc.account))
    contacts: defaultdict[str, list[ContactRef]] = defaultdict(list)
    for contact in conn.execute(select(Contact).order_by(Contact.id)):
        contacts[contact.company_id].append(ContactRef(contact.email, contact.language, contact.name))
    return [
        CompanyInfo(row.id, row.name_ja, row.name_en, tuple(accounts[row.id]), tuple(contacts[row.id]))
        for row in conn.execute(select(Company).order_by(Company.id))
    ]


def get_company(conn: Connection, company_id: str) -> CompanyInfo:
    for company in list_companies(conn):
        if company.id == company_id:
            return company
    known = ", ".join(c.id for c in list_companies(conn)) or "none yet"
    raise NotFoundError("company", company_id, hint=f"known: {known}")


def list_grants(conn: Connection, *, company_id: str | None = None) -> list[GrantInfo]:
    plans: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in conn.execute(select(GrantPlan).order_by(GrantPlan.month_start)):
        plans[row.grant_id].append((row.month_start, row.amount))
    stmt = select(Grant).order_by(Grant.company_id, Grant.period_start, Grant.cluster)
    if company_id is not None:
        stmt = stmt.where(Grant.company_id == company_id)
    return [
        GrantInfo(
            id=row.id,
            company_id=row.company_id,
            cluster=row.cluster,
            unit=Unit(NORMALISED if row.unit == "tflop" else row.gpu_type),
            amount=row.amount,
            period_start=row.period_start,
            period_end=row.period_end,
            plan=tuple(plans[row.id]),
            note=row.note,
        )
        for row in conn.execute(stmt)
    ]


def usage_cells(conn: Connection, start: int, end: int) -> UsageCells:
    """GPU-seconds per (company, cluster, GPU type) charged in hours [start, end); unclaimed accounts excluded."""
    uh, ca = UsageHourly, CompanyAccount
    stmt = (
        select(ca.company_id, uh.cluster, uh.gpu_type, func.sum(uh.gpu_seconds))
        .join(ca, and_(ca.cluster == uh.cluster, ca.account == uh.account))
        .where(uh.hour >= start, uh.hour < end)
        .group_by(ca.company_id, uh.cluster, uh.gpu_type)
    )
    return {(c, cl, t): int(s) for c, cl, t, s in conn.execute(stmt)}


def unclaimed_usage(conn: Connection, start: int, end: int) -> dict[tuple[str, str, str], int]:
    """GPU-seconds per (cluster, account, GPU type) in hours [start, end) of accounts no company claims.

    The complement of ``usage_cells``: usage the ledger keeps but charges to nobody (a new account not yet
    added with ``company add-account``, or someone computing outside the programme).
    """
    uh, ca = UsageHourly, CompanyAccount
    claimed = exists().where(ca.cluster == uh.cluster, ca.account == uh.account)
    stmt = (
        select(uh.cluster, uh.account, uh.gpu_type, func.sum(uh.gpu_seconds))
        .where(uh.hour >= start, uh.hour < end, ~claimed)
        .group_by(uh.cluster, uh.account, uh.gpu_type)
    )
    return {(c, a, t): int(n) for c, a, t, n in conn.execute(stmt) if n}



def unclaimed_since(conn: Connection, now: int) -> dict[tuple[str, str, str], int]:
    """Unclaimed accounts' GPU-seconds in the whole hours of the trailing ``UNCLAIMED_WINDOW_S`` up to ``now``
    (what ``quotad status`` lists and ``quotad_unclaimed_gpu_seconds`` serves)."""
    start = (now - UNCLAIMED_WINDOW_S) // SECONDS_PER_HOUR * SECONDS_PER_HOUR
    return unclaimed_usage(conn, start, now + 1)

def gpus_held_now(conn: Connection) -> dict[str, int]:
    """GPUs held by each company's running jobs, as of the last collection."""
    stmt = (
        select(CompanyAccount.company_id, func.sum(Job.gpu_count))
        .join(CompanyAccount, and_(CompanyAccount.cluster == Job.cluster, CompanyAccount.account == Job.account))
        .where(Job.state == "RUNNING")
        .group_by(CompanyAccount.company_id)
    )
    return {company: int(n or 0) for company, n in conn.execute(stmt)}


@dataclass(frozen=True)
class StatusRow:
    """One company's position against its active grants at ``now``; all amounts in ``unit``."""

    company_id: str
    name_ja: str
    name_en: str
    unit: Unit | None
    granted: int
    used: int
    used_last_7d: int
    burn_window_s: int
    projected: int
    period_start: int | None
    period_end: int | None
    gpus_held: int
    grant_ids: tuple[int, ...] = field(default=())

    @property
    def used_ratio(self) -> float | None:
        return self.used / self.granted if self.granted else None

    @property
    def burn_per_day(self) -> float:
        """Use per day over the trailing window, in ``unit``'s integer base (scaled for display by the caller)."""
        return self.used_last_7d * SECONDS_PER_DAY / self.burn_window_s if self.burn_window_s else 0.0

    def amount(self, value: int) -> Amount | None:
        return Amount(value, self.unit) if self.unit else None


@dataclass(frozen=True)
class Position:
    """Grants taken together (one company's, or one grant) against the usage they cover at ``now``.

    The one place the programme's grant arithmetic lives: ``quotad status``, the policies, the exporter and
    the plugins' ledger view all read their grant figures from here, so they cannot disagree.
    """

    unit: Unit
    granted: int
    used: int
    used_last_7d: int
    burn_window_s: int
    projected: int
    period_start: int
    period_end: int


#: usage cells in [start, now + 1) for a start; callers memoise it, since companies share starts.
CellsSince = Callable[[int], UsageCells]


def _covered(unit: Unit, cells: UsageCells, company: str, grants: Sequence[GrantInfo], catalog: GpuCatalog) -> int:
    """Usage of cells any of ``grants`` covers, each cell counted once even where grant scopes overlap."""
    total = 0
    for (owner, cluster, gpu_type), seconds in cells.items():
        if owner == company and any(g.covers(cluster, gpu_type) for g in grants):
            total += unit.convert(seconds, gpu_type, catalog)
    return total


def grant_position(grants: Sequence[GrantInfo], cells_since: CellsSince, catalog: GpuCatalog, *, now: int) -> Position:
    """``grants`` (non-empty, one company's) at ``now``: in their common unit, or normalised when they differ.

    Used is what the grants' scopes cover since the earliest start; the burn rate is the trailing 7 days (or
    the part of the period so far, if shorter); projected = used + rate x time left to the latest end.
    """
    units = {g.unit for g in grants}
    unit = units.pop() if len(units) == 1 else Unit(NORMALISED)
    company = grants[0].company_id
    start = min(g.period_start for g in grants)
    end = max(g.period_end for g in grants)
    recent_start = max(start, now - BURN_WINDOW)
    used = _covered(unit, cells_since(start), company, grants, catalog)
    recent = _covered(unit, cells_since(recent_start), company, grants, catalog)
    window = now - recent_start
    projected = used + (recent * (end - now) // window if window > 0 else 0)
    granted = sum(g.amount if g.unit == unit else catalog.tflop(g.amount, g.unit.gpu_type) for g in grants)
    return Position(unit, granted, used, recent, window, projected, start, end)


def memoised_cells(conn: Connection, *, now: int) -> CellsSince:
    """``usage_cells(start, now + 1)`` read once per distinct start."""
    ranges: dict[int, UsageCells] = {}

    def cells_since(start: int) -> UsageCells:
        if start not in ranges:
            ranges[start] = usage_cells(conn, start, now + 1)
        return ranges[start]

    return cells_since


def status_rows(
    companies: Iterable[CompanyInfo],
    active_grants: Iterable[GrantInfo],
    held: Mapping[str, int],
    cells_since: CellsSince,
    catalog: GpuCatalog,
    *,
    now: int,
) -> list[StatusRow]:
    """One ``StatusRow`` per company from already-read parts (the policies' facts read them once per tick)."""
    by_company: defaultdict[str, list[GrantInfo]] = defaultdict(list)
    for grant in active_grants:
        by_company[grant.company_id].append(grant)
    rows = []
    for company in companies:
        grants = by_company.get(company.id, [])
        gpus = held.get(company.id, 0)
        if not grants:
            rows.append(StatusRow(company.id, company.name_ja, company.name_en, None, 0, 0, 0, 0, 0, None, None, gpus))
            continue
        p = grant_position(grants, cells_since, catalog, now=now)
        rows.append(
            StatusRow(
                company.id, company.name_ja, company.name_en, p.unit, p.granted, p.used, p.used_last_7d,
                p.burn_window_s, p.projected, p.period_start, p.period_end, gpus, tuple(g.id for g in grants),
            )
        )  # fmt: skip
    return rows


def company_status(conn: Connection, catalog: GpuCatalog, *, now: int) -> list[StatusRow]:
    """One row per company: grant, used, trailing burn and projection to the end of its active grants."""
    return status_rows(
        list_companies(conn),
        [g for g in list_grants(conn) if g.active(now)],
        gpus_held_now(conn),
        memoised_cells(conn, now=now),
        catalog,
        now=now,
    )


@dataclass(frozen=True)
class ReportRow:
    key: str
    gpu_seconds: dict[str, int]  # by GPU type
    tflop: int

    @property
    def total_gpu_seconds(self) -> int:
        return sum(self.gpu_seconds.values())


def usage_report(conn: Connection, catalog: GpuCatalog, *, start: int, end: int, by: ReportKey) -> list[ReportRow]:
    """Usage in hours [start, end) grouped by ``by``; unclaimed accounts appear as '(unclaimed) cluster:account'."""
    uh, ca = UsageHourly, CompanyAccount
    group = {
        "company": (ca.company_id, uh.cluster, uh.account),
        "cluster": (uh.cluster,),
        "partition": (uh.cluster, uh.partition),
        "gpu-type": (),
        "user": (uh.cluster, uh.user_name),
    }[by]
    stmt = (
        select(*group, uh.gpu_type, func.sum(uh.gpu_seconds))
        .outerjoin(ca, and_(ca.cluster == uh.cluster, ca.account == uh.account))
        .where(uh.hour >= start, uh.hour < end)
        .group_by(*group, uh.gpu_type)
    )
    cells: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in conn.execute(stmt):
        *parts, gpu_type, seconds = row
        cells[_key(by, parts, gpu_type)][gpu_type] += int(seconds)
    rows = [
        ReportRow(key, dict(sorted(types.items())), sum(catalog.tflop(s, t) for t, s in types.items()))
        for key, types in cells.items()
    ]
    return sorted(rows, key=lambda r: (-r.total_gpu_seconds, r.key))


def _key(by: ReportKey, parts: list[str | None], gpu_type: str) -> str:
    if by == "company":
        company, cluster, account = parts
        return company if company is not None else f"(unclaimed) {cluster}:{account}"
    if by == "gpu-type":
        return gpu_type
    return ":".join(str(p) for p in parts) if by != "cluster" else str(parts[0])
